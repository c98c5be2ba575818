/**
 * Triton's model configuration, statistics and repository APIs at the edges: which backend
 * method serves each, and the answer to what slackserve does not offer (model control).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SlackserveError } from '../errors.js';
import { readBody } from './http-body.js';
import type { InferenceBackend } from './types.js';

type TritonMethod = 'modelConfig' | 'modelStatistics' | 'repositoryIndex';

/** The backend's method, bound; a backend without it answers UNSUPPORTED naming the call. */
export function tritonApi<K extends TritonMethod>(backend: InferenceBackend, method: K, rpc: string): NonNullable<InferenceBackend[K]> {
  const fn = backend[method];
  if (typeof fn !== 'function') throw new SlackserveError('UNSUPPORTED', `${rpc} is not offered by this server's backend`);
  return fn.bind(backend) as NonNullable<InferenceBackend[K]>;
}

/** Model load/unload: slackserve serves one supernet, chosen at startup. */
export function modelControlUnsupported(action: 'load' | 'unload', model: string): SlackserveError {
  return new SlackserveError(
    'UNSUPPORTED',
    `model ${action} is not supported: slackserve serves one supernet fixed at startup (--supernet)${model ? `, not "${model}" on request` : ''}; restart the server to serve another`,
    { action, model },
  );
}

/** A route of the REST edge: method, path (with `{name}` segments) and handler. */
export type TritonRoute = readonly [method: string, path: string, handler: (req: IncomingMessage, res: ServerResponse, params: Readonly<Record<string, string>>) => Promise<void>];

function send(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Largest body the repository routes read (their JSON is a few flags). */
const SMALL_BODY_BYTES = 64 * 1024;

/** A small optional JSON object body ({} when empty); INPUT_INVALID when it is not one. */
async function smallJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = (await readBody(req, SMALL_BODY_BYTES)).toString('utf8').trim();
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new SlackserveError('INPUT_INVALID', `invalid JSON body: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SlackserveError('INPUT_INVALID', 'the request body must be a JSON object');
  return v as Record<string, unknown>;
}

/** Triton's REST routes for configuration, statistics and the repository. */
export function tritonRoutes(b: InferenceBackend): TritonRoute[] {
  const config = async (_req: IncomingMessage, res: ServerResponse, p: Readonly<Record<string, string>>): Promise<void> =>
    send(res, tritonApi(b, 'modelConfig', 'model configuration')(p['model'] ?? '', p['version'] ?? ''));
  const stats = async (_req: IncomingMessage, res: ServerResponse, p: Readonly<Record<string, string>>): Promise<void> =>
    send(res, { model_stats: await tritonApi(b, 'modelStatistics', 'model statistics')(p['model'] ?? '', p['version'] ?? '') });
  const control =
    (action: 'load' | 'unload') =>
    async (_req: IncomingMessage, _res: ServerResponse, p: Readonly<Record<string, string>>): Promise<void> => {
      throw modelControlUnsupported(action, p['model'] ?? '');
    };
  return [
    ['GET', '/v2/models/{model}/config', config],
    ['GET', '/v2/models/{model}/versions/{version}/config', config],
    ['GET', '/v2/models/stats', stats],
    ['GET', '/v2/models/{model}/stats', stats],
    ['GET', '/v2/models/{model}/versions/{version}/stats', stats],
    [
      'POST',
      '/v2/repository/index',
      async (req, res) => {
        const body = await smallJsonBody(req);
        if (body['ready'] !== undefined && typeof body['ready'] !== 'boolean') throw new SlackserveError('INPUT_INVALID', '"ready" must be a boolean');
        send(res, await tritonApi(b, 'repositoryIndex', 'repository index')(body['ready'] === true));
      },
    ],
    ['POST', '/v2/repository/models/{model}/load', control('load')],
    ['POST', '/v2/repository/models/{model}/unload', control('unload')],
  ];
}
