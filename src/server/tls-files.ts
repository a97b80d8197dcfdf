// The TLS settings of `ringkv serve` (etcd's flags) turned into what the ports are given: the files
// read, each checked by building a secure context from it, so that a missing file, a key that does
// not match its certificate or text that is not PEM stops the node at start with one line naming
// the flag, instead of failing every handshake later.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { UsageError } from '../node/errors.ts';
import type { PeerTls, ServerTls } from '../transport/tls.ts';

/** File paths as given; which may be combined is checked by the CLI (serve.ts). */
export interface TlsFileOptions {
  /** Client port: certificate, key, the CA of clients' certificates, and whether one is required. */
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly trustedCaFile: string | undefined;
  readonly clientCertAuth: boolean;
  /** Raft port, mutual TLS: this node's certificate and key, and the CA every peer's chains to. */
  readonly peerCertFile: string | undefined;
  readonly peerKeyFile: string | undefined;
  readonly peerTrustedCaFile: string | undefined;
}

/** Bound on one certificate or key file (a chain of a few certificates takes a few KiB). */
const PEM_FILE_BYTES_MAX = 1024 * 1024;

export interface LoadedTls {
  readonly clientTls: ServerTls | undefined;
  readonly peerTls: PeerTls | undefined;
}

/** Reads and checks the files; throws UsageError naming the flag and the file on any problem. */
export function loadTlsFiles(o: TlsFileOptions): LoadedTls {
  let clientTls: ServerTls | undefined;
  if (o.certFile !== undefined || o.keyFile !== undefined) {
    const cert = readPem('cert_file', o.certFile);
    const key = readPem('key_file', o.keyFile);
    const ca = o.trustedCaFile === undefined ? undefined : readPem('trusted_ca_file', o.trustedCaFile);
    check(['cert_file', 'key_file', 'trusted_ca_file'], { cert, key, ...(ca === undefined ? {} : { ca }) });
    clientTls = { cert, key, ...(ca === undefined ? {} : { ca }), requireClientCert: o.clientCertAuth };
  }
  let peerTls: PeerTls | undefined;
  if (o.peerCertFile !== undefined || o.peerKeyFile !== undefined || o.peerTrustedCaFile !== undefined) {
    const cert = readPem('peer_cert_file', o.peerCertFile);
    const key = readPem('peer_key_file', o.peerKeyFile);
    const ca = readPem('peer_trusted_ca_file', o.peerTrustedCaFile);
    check(['peer_cert_file', 'peer_key_file', 'peer_trusted_ca_file'], { cert, key, ca });
    peerTls = { cert, key, ca };
  }
  return { clientTls, peerTls };
}

function readPem(flag: string, path: string | undefined): string {
  if (path === undefined) throw new UsageError(`--${flag} is required with the other TLS files of its port`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UsageError(`--${flag} ${path}: cannot read it: ${(e as Error).message}`);
  }
  if (bytes.length > PEM_FILE_BYTES_MAX)
    throw new UsageError(`--${flag} ${path}: ${bytes.length} bytes, more than a PEM file holds here`);
  const text = bytes.toString('utf8');
  if (!text.includes('-----BEGIN '))
    throw new UsageError(`--${flag} ${path}: not a PEM file (no -----BEGIN line)`);
  return text;
}

/** Builds a secure context, so that node:tls reports a bad key or certificate now. */
function check(
  flags: readonly [string, string, string],
  pem: { cert: string; key: string; ca?: string },
): void {
  try {
    createSecureContext(pem);
  } catch (e) {
    const [certFlag, keyFlag, caFlag] = flags;
    const msg = (e as Error).message;
    const which = /key values mismatch/i.test(msg)
      ? `--${keyFlag} is not the key of --${certFlag}`
      : `--${certFlag}, --${keyFlag} or --${caFlag} is not usable`;
    throw new UsageError(`${which}: ${msg}`);
  }
}
