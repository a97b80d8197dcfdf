// What every command that talks to a cluster shares: the connection options (--endpoints, --debug,
// --timeout-ms, --hex, and TLS: --cacert, --cert, --key as etcdctl names them), making the client, decoding keys and values from the command line,
// printing bytes, and turning a failure into one clear line on stderr (exit 1) — never a stack.
import { readFileSync } from 'node:fs';
import { type Command, CommanderError } from 'commander';
import {
  assertEndpoint,
  type BytesLike,
  bytesToHex,
  bytesToUtf8,
  type ClientTls,
  HexFormatError,
  hexToBytes,
  isValidUtf8,
  RingkvClient,
  RingkvError,
  UnavailableError,
} from '../../client/index.ts';

export const DEFAULT_ENDPOINTS = 'localhost:50051';
/** How long the CLI keeps trying when no endpoint accepts a connection at all. */
const UNREACHABLE_GIVE_UP_MS = 1000;

export interface ConnectionOptions {
  readonly endpoints: string;
  readonly timeoutMs: number;
  readonly hex: boolean;
  /** --debug: trace each attempt on stderr. */
  readonly debug: boolean;
  /** PEM file paths (flag or RINGKV_CACERT/CERT/KEY); any of them given means TLS. */
  readonly cacert: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** Reads the connection options commander parsed (see register-client.ts). */
export function connectionOptions(opts: Record<string, unknown>): ConnectionOptions {
  const endpoints = typeof opts.endpoints === 'string' ? opts.endpoints : DEFAULT_ENDPOINTS;
  const timeoutMs = typeof opts.timeoutMs === 'number' ? opts.timeoutMs : 5000;
  const path = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    endpoints,
    timeoutMs,
    hex: opts.hex === true,
    debug: opts.debug === true,
    cacert: path(opts.cacert),
    cert: path(opts.cert),
    key: path(opts.key),
  };
}

/** Whether the connection options ask for TLS. */
export function usesTls(conn: ConnectionOptions): boolean {
  return conn.cacert !== undefined || conn.cert !== undefined || conn.key !== undefined;
}

/** Bound on a PEM file read for TLS. */
const PEM_FILE_BYTES_MAX = 1024 * 1024;

/** The client's TLS from --cacert/--cert/--key (undefined: plaintext); a bad file is a usage error. */
export function clientTls(conn: ConnectionOptions, cmd: Command): ClientTls | undefined {
  if (!usesTls(conn)) return undefined;
  if ((conn.cert === undefined) !== (conn.key === undefined))
    usageError(cmd, '--cert and --key go together (a client certificate and its private key)');
  const read = (flag: string, path: string | undefined): string | undefined => {
    if (path === undefined) return undefined;
    let text: string;
    try {
      const bytes = readFileSync(path);
      if (bytes.length > PEM_FILE_BYTES_MAX) usageError(cmd, `${flag} ${path}: too large for a PEM file`);
      text = bytes.toString('utf8');
    } catch (e) {
      if (e instanceof CommanderError) throw e;
      usageError(cmd, `${flag} ${path}: cannot read it: ${(e as Error).message}`);
    }
    if (!text.includes('-----BEGIN '))
      usageError(cmd, `${flag} ${path}: not a PEM file (no -----BEGIN line)`);
    return text;
  };
  const ca = read('--cacert', conn.cacert);
  const cert = read('--cert', conn.cert);
  const key = read('--key', conn.key);
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
}

/** Splits and checks --endpoints; a bad list is a usage error (exit 2). */
export function parseEndpoints(list: string, cmd: Command): string[] {
  const endpoints = list
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (endpoints.length === 0)
    usageError(cmd, `--endpoints is empty; give host:port[,host:port…] (e.g. ${DEFAULT_ENDPOINTS})`);
  for (const e of endpoints) {
    try {
      assertEndpoint(e);
    } catch {
      usageError(cmd, `--endpoints: ${JSON.stringify(e)} is not host:port (e.g. ${DEFAULT_ENDPOINTS})`);
    }
  }
  return endpoints;
}

/** Prints `message` the way commander prints usage errors and exits 2 (through main's handler). */
export function usageError(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: 2, code: 'ringkv.usage' });
}

/** A key or value from the command line: UTF-8 text, or hex digits with --hex. */
export function argBytes(text: string, what: string, conn: ConnectionOptions, cmd: Command): BytesLike {
  if (!conn.hex) return text;
  try {
    return hexToBytes(text);
  } catch (e) {
    if (e instanceof HexFormatError) usageError(cmd, `${what}: ${e.message} (--hex is set)`);
    throw e;
  }
}

let warnedNotUtf8 = false;

/** Bytes for output: hex with --hex, else UTF-8 text (with a warning on stderr, once, when it is not text). */
export function showBytes(bytes: Uint8Array, conn: ConnectionOptions): string {
  if (conn.hex) return bytesToHex(bytes);
  if (!isValidUtf8(bytes) && !warnedNotUtf8) {
    warnedNotUtf8 = true;
    process.stderr.write('warning: not valid UTF-8; use --hex to see the exact bytes\n');
  }
  return bytesToUtf8(bytes);
}

/**
 * Text with the characters that would break a line-per-item output escaped, C style: backslash
 * as \\, tab \t, newline \n, carriage return \r, any other control character (U+0000–U+001F,
 * U+007F) as \xHH. So one line is one item, its fields are split by the only real tabs, and the
 * original text can be recovered. Returns whether anything was escaped.
 */
export function escapeControl(text: string): { readonly text: string; readonly escaped: boolean } {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  const special = /[\\\x00-\x1f\x7f]/g;
  let escaped = false;
  const out = text.replace(special, (c) => {
    escaped = true;
    switch (c) {
      case '\\':
        return '\\\\';
      case '\t':
        return '\\t';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
  return { text: out, escaped };
}

/**
 * Runs `fn` with a client built from the options; returns its exit code, or 1 after printing
 * one line for any failure. The client is always closed (so the process can exit).
 */
export async function withClient(
  opts: Record<string, unknown>,
  cmd: Command,
  fn: (client: RingkvClient, conn: ConnectionOptions) => Promise<number>,
): Promise<number> {
  const conn = connectionOptions(opts);
  const endpoints = parseEndpoints(conn.endpoints, cmd);
  const tls = clientTls(conn, cmd);
  const startMs = Date.now();
  const client = new RingkvClient({
    endpoints,
    defaultTimeoutMs: conn.timeoutMs,
    unreachableGiveUpMs: UNREACHABLE_GIVE_UP_MS,
    ...(tls === undefined ? {} : { tls }),
    ...(conn.debug
      ? { trace: (line: string) => process.stderr.write(`debug: +${Date.now() - startMs} ms ${line}\n`) }
      : {}),
  });
  try {
    return await fn(client, conn);
  } catch (e) {
    if (e instanceof CommanderError) throw e;
    const message = describeFailure(e, conn.timeoutMs, usesTls(conn));
    process.stderr.write(`error: ${message}\n`);
    // With --output json, the document on stdout is the error (nothing else was printed: every
    // command writes its document only once it has its whole result).
    if (opts.output === 'json') {
      const code = e instanceof RingkvError ? e.code : 'UNEXPECTED';
      process.stdout.write(`${toJson({ error: { code, message } })}\n`);
    }
    if (process.env.RINGKV_DEBUG === '1' && e instanceof Error) process.stderr.write(`${e.stack ?? ''}\n`);
    return 1;
  } finally {
    // The answer is out: a call still in flight is one the command stopped waiting for (a seed
    // that is not a member, a progress poll), so it is cut rather than waited for.
    await client.close({ timeoutMs: 0 });
  }
}

/** One line: what went wrong and what to do about it. `tls`: the client used TLS. */
export function describeFailure(e: unknown, timeoutMs: number, tls = false): string {
  if (e instanceof UnavailableError && e.reason === 'unreachable') {
    return `${e.message} — ${unreachableHint(e.message, tls)}`;
  }
  if (!(e instanceof RingkvError)) {
    const msg = e instanceof Error ? e.message : String(e);
    return `unexpected failure: ${msg} (set RINGKV_DEBUG=1 to see where)`;
  }
  switch (e.code) {
    case 'UNAVAILABLE':
      return `${e.message} — is a majority of the nodes up? see \`ringkv cluster status\``;
    case 'DEADLINE_EXCEEDED':
      return `${e.message} — no answer within ${timeoutMs} ms; retry with a larger --timeout-ms or see \`ringkv cluster status\``;
    case 'INDETERMINATE':
      return `${e.message} — read the key to see whether it was applied`;
    case 'INVALID_ARGUMENT':
      return `invalid request: ${e.message}`;
    case 'RESOURCE_EXHAUSTED':
      return `the node is overloaded: ${e.message} — retry in a moment`;
    case 'FAILED_PRECONDITION':
      return `refused: ${e.message}`;
    default:
      return e.message;
  }
}

/**
 * What to check when no node could be connected to. A TLS node that a plaintext client dials (or
 * one that refuses the client's certificate) just drops the connection: the client sees only
 * "Failed to connect", so the hint names TLS whenever it may be why.
 */
function unreachableHint(message: string, tls: boolean): string {
  const running = 'is a node running? start a local cluster with `npm start`, or pass --endpoints host:port';
  if (!tls)
    return `${running}; if the nodes serve TLS, pass --cacert FILE (the CA of their certificates; RINGKV_CACERT), and --cert/--key when they require client certificates`;
  if (/certificate|self[- ]signed|issuer|verify|altname|alert|SSL|TLS/i.test(message))
    return "the TLS handshake failed: --cacert must be the CA that signed the nodes' certificates, which must name the host in --endpoints; a node with --client_cert_auth needs --cert and --key signed by a CA it trusts";
  return `${running}; does it serve TLS (without it, leave out --cacert/--cert/--key)? a node with --client_cert_auth refuses clients without --cert/--key it trusts`;
}

/** JSON with bigints as numbers (exact below 2^53, which Raft indexes and terms stay under). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) =>
      typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v,
    2,
  );
}
