/** The one fixed ModelInferResponse both echo servers answer (grpc-echo.ts, h2-echo.ts): 10 FP32 logits as raw_output_contents. */
export const ECHO_ANSWER = {
  model_name: 'fmnist-resnet',
  model_version: '1',
  id: '',
  parameters: {},
  outputs: [{ name: 'logits', datatype: 'FP32', shape: ['1', '10'], parameters: {} }],
  raw_output_contents: [Buffer.from(new Float32Array(10).fill(0.1).buffer)],
};
