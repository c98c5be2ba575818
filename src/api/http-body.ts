/**
 * Request bodies on the REST edge: bounded reading (413 before reading when Content-Length says
 * too much, and as soon as a streamed body passes the limit), `Content-Encoding` gzip/deflate,
 * JSON bodies, and Triton's binary tensor data extension (`Inference-Header-Content-Length`: the
 * body is that many bytes of JSON, then the tensors' bytes).
 *
 * A 413 is answered so the client can read it: the status and JSON error are written at once, the
 * rest of the body is read and discarded (up to DRAIN_MAX_BYTES, within the server's request
 * timeout) and only then is the connection closed. Closing while the client still sends makes its
 * TCP stack see a reset, and clients that write the whole body before reading (Python's, Triton's)
 * then report a broken pipe instead of the 413.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync, inflateSync } from 'node:zlib';
import { SlackserveError } from '../errors.js';

/** An HTTP-level failure that is no SlackserveError: unknown route, wrong method, body too large. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** The most a 413'd request body is read (and discarded) before the connection is cut. */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

function tooLarge(message: string): HttpStatusError {
  return new HttpStatusError(413, message, { connection: 'close' });
}

/**
 * Reads a request body up to `limitBytes` (413 beyond it). On 413 the request is left paused,
 * not destroyed, so the error answer can drain it (answerAndDrain).
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes)
    return Promise.reject(tooLarge(`request body of ${declared} bytes exceeds the limit of ${limitBytes} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limitBytes) {
        done();
        req.pause();
        reject(tooLarge(`request body exceeds the limit of ${limitBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    const onClose = (): void => {
      done();
      if (!req.complete) reject(new SlackserveError('CANCELLED', 'the client disconnected while sending the body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Answers `status` with a JSON body and closes the connection only after the request body was
 * read (so the client sees the answer, not a reset): see the header.
 */
export function answerAndDrain(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, connection: 'close', 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  if (req.complete || req.destroyed) {
    res.end(text);
    return;
  }
  // the whole answer goes out now: a client reading while it sends has it at once
  res.write(text);
  let drained = 0;
  const finish = (): void => {
    req.off('data', onData);
    if (!res.writableEnded) res.end();
  };
  const onData = (chunk: Buffer): void => {
    drained += chunk.length;
    if (drained > DRAIN_MAX_BYTES) {
      finish();
      req.destroy();
    }
  };
  req.on('data', onData);
  req.once('end', finish);
  req.once('close', finish);
  req.once('error', finish);
  req.resume();
}

/** The media type of a Content-Type header, lowercased, without parameters ('' when absent). */
export function mediaTypeOf(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The body with its Content-Encoding (gzip, deflate; Triton's clients offer both) undone, bounded. */
function decoded(body: Buffer, encoding: string | undefined, limitBytes: number): Buffer {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  if (enc !== 'gzip' && enc !== 'deflate')
    throw new HttpStatusError(415, `unsupported content encoding '${enc}': send identity, gzip or deflate`, { 'accept-encoding': 'gzip, deflate' });
  try {
    return enc === 'gzip' ? gunzipSync(body, { maxOutputLength: limitBytes }) : inflateSync(body, { maxOutputLength: limitBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(`request body exceeds the limit of ${limitBytes} bytes once decompressed`);
    throw new SlackserveError('INPUT_INVALID', `the body is not valid ${enc} data: ${(err as Error).message}`);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new SlackserveError('INPUT_INVALID', `invalid JSON body: ${(err as Error).message}`);
  }
}

/**
 * Reads and parses a JSON body. Only `application/json` is accepted (415 otherwise, before the
 * body is read: a web page cannot make a browser send one without a CORS preflight); a body that
 * is not JSON gets 400 INPUT_INVALID.
 */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const type = mediaTypeOf(req.headers['content-type']);
  if (type !== 'application/json')
    throw new HttpStatusError(
      415,
      `unsupported content type ${type === '' ? '(none)' : `'${type}'`}: send the request as application/json (header "content-type: application/json"), or use the binary tensor data extension (header "Inference-Header-Content-Length")`,
      { accept: 'application/json' },
    );
  const body = decoded(await readBody(req, limitBytes), req.headers['content-encoding'], limitBytes);
  if (body.length === 0) throw new SlackserveError('INPUT_INVALID', 'empty request body: expected a JSON object');
  return parseJson(body.toString('utf8'));
}

export interface InferBody {
  readonly json: unknown;
  /** The bytes after the JSON header (binary tensor data extension); undefined for a JSON body. */
  readonly binary: Buffer | undefined;
}

export const INFERENCE_HEADER = 'inference-header-content-length';

/**
 * An inference request body: JSON, or with the binary tensor data extension JSON header + tensor
 * bytes. The extension's custom header makes browsers send a CORS preflight, so any content type
 * is accepted with it (Triton's Python client sends none).
 */
export async function readInferBody(req: IncomingMessage, limitBytes: number): Promise<InferBody> {
  const raw = req.headers[INFERENCE_HEADER];
  const header = Array.isArray(raw) ? raw.join(',') : raw;
  if (header === undefined) return { json: await readJsonBody(req, limitBytes), binary: undefined };
  if (!/^\d{1,12}$/.test(header.trim()))
    throw new SlackserveError('INPUT_INVALID', `Inference-Header-Content-Length must be the JSON header's size in bytes, got '${header.slice(0, 32)}'`);
  const jsonBytes = Number(header.trim());
  const body = decoded(await readBody(req, limitBytes), req.headers['content-encoding'], limitBytes);
  if (jsonBytes > body.length)
    throw new SlackserveError('INPUT_INVALID', `Inference-Header-Content-Length is ${jsonBytes} but the body has only ${body.length} bytes`);
  if (jsonBytes === 0) throw new SlackserveError('INPUT_INVALID', 'Inference-Header-Content-Length is 0: the JSON header is missing');
  return { json: parseJson(body.toString('utf8', 0, jsonBytes)), binary: body.subarray(jsonBytes) };
}
