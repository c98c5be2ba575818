/**
 * TLS material for the edges, read once from the files the configuration names (`tlsCert`,
 * `tlsKey`, optional `tlsClientCa` for mutual TLS), and the gRPC credentials built from it.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { SlackserveError } from '../errors.js';

export interface TlsMaterial {
  /** PEM certificate chain. */
  readonly cert: Buffer;
  /** PEM private key. */
  readonly key: Buffer;
  /** PEM CA bundle client certificates must chain to (mutual TLS); absent: no client certificate asked. */
  readonly clientCa?: Buffer | undefined;
}

function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SlackserveError('CONFIG_INVALID', `config ${key}: cannot read ${path}: ${(err as Error).message}`, { key });
  }
}

/** The TLS files of a configuration, or undefined when TLS is off. */
export function tlsOf(cfg: Pick<Config, 'tlsCert' | 'tlsKey' | 'tlsClientCa'>): TlsMaterial | undefined {
  if (cfg.tlsCert === '') return undefined;
  return {
    cert: readPem('tlsCert', cfg.tlsCert),
    key: readPem('tlsKey', cfg.tlsKey),
    ...(cfg.tlsClientCa !== '' ? { clientCa: readPem('tlsClientCa', cfg.tlsClientCa) } : {}),
  };
}

/** gRPC server credentials: TLS (client certificates required and verified with a client CA), or plaintext. */
export function grpcServerCredentials(tls: TlsMaterial | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.clientCa !== undefined);
}

/** Options for `https.createServer` (client certificates required with a client CA). */
export function httpsOptions(tls: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert: boolean; rejectUnauthorized: boolean } {
  return tls.clientCa !== undefined
    ? { cert: tls.cert, key: tls.key, ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }
    : { cert: tls.cert, key: tls.key, requestCert: false, rejectUnauthorized: false };
}
