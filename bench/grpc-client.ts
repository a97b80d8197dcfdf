// A minimal unary gRPC client on node:http2, shared by the ringkv and etcd drivers so both systems
// are measured through the same client transport. It does only what a unary call needs: one
// HEADERS frame, one length-prefixed message (5-byte gRPC prefix: 1 flag byte + u32 length),
// then the response message and the grpc-status trailer. No compression, no retries, no
// interceptors: @grpc/grpc-js costs about twice the CPU per call as a client, and the load
// generator shares the two cores with the servers.
import http2 from 'node:http2';

export class GrpcCallError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(`grpc status ${code}: ${message}`);
    this.code = code;
    this.name = 'GrpcCallError';
  }
}

const {
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_TE,
  HTTP2_HEADER_STATUS,
} = http2.constants;

/** TLS towards a server: the CA its certificate chains to (h2 by ALPN); absent: h2c. */
export interface ClientTls {
  readonly ca: Buffer;
}

/** One HTTP/2 connection to one gRPC server (host:port), for unary calls. */
export class GrpcConnection {
  readonly addr: string;
  private readonly tls: ClientTls | undefined;
  private s: http2.ClientHttp2Session | undefined;
  private closed = false;

  constructor(addr: string, tls?: ClientTls) {
    this.addr = addr;
    this.tls = tls;
  }

  /** The live session, reconnecting when the previous one failed (e.g. the server was not up yet). */
  private get session(): http2.ClientHttp2Session {
    if (this.s === undefined || this.s.destroyed || this.s.closed) {
      this.s = http2.connect(`${this.tls === undefined ? 'http' : 'https'}://${this.addr}`, {
        settings: { initialWindowSize: 4 * 1024 * 1024 },
        maxSessionMemory: 64,
        ...(this.tls === undefined ? {} : { ca: this.tls.ca }),
      });
      // The connection window too: its default (64 KiB) would cap the responses in flight on it.
      const s = this.s;
      s.once('connect', () => s.setLocalWindowSize(4 * 1024 * 1024));
      this.s.on('error', () => {
        // Calls in flight fail on their own streams; the next call reconnects.
      });
    }
    return this.s;
  }

  /** Calls `path` (e.g. /ringkv.v1.KVService/Put) with an encoded request; resolves with the response bytes. */
  call(path: string, body: Uint8Array, deadlineMs = 10_000): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error(`connection to ${this.addr} is closed`));
    return new Promise((resolve, reject) => {
      const stream = this.session.request(
        {
          [HTTP2_HEADER_METHOD]: 'POST',
          [HTTP2_HEADER_PATH]: path,
          [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
          [HTTP2_HEADER_TE]: 'trailers',
          'grpc-timeout': `${deadlineMs}m`,
        },
        { endStream: false },
      );
      const chunks: Buffer[] = [];
      let status: number | undefined;
      let message = '';
      stream.on('response', (headers) => {
        const httpStatus = headers[HTTP2_HEADER_STATUS];
        if (Number(httpStatus) !== 200) {
          status = 2;
          message = `http status ${String(httpStatus)}`;
        }
        // A trailers-only response carries grpc-status in the headers.
        const gs = headers['grpc-status'];
        if (gs !== undefined) {
          status = Number(gs);
          message = decodeURIComponent(String(headers['grpc-message'] ?? ''));
        }
      });
      stream.on('trailers', (trailers) => {
        status = Number(trailers['grpc-status'] ?? 2);
        message = decodeURIComponent(String(trailers['grpc-message'] ?? ''));
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (e) => reject(e));
      stream.on('close', () => {
        if (status === undefined) {
          reject(new GrpcCallError(14, `stream closed without status (rst ${stream.rstCode})`));
        } else if (status !== 0) {
          reject(new GrpcCallError(status, message));
        } else {
          try {
            resolve(unframe(chunks));
          } catch (e) {
            reject(e);
          }
        }
      });
      stream.end(frame(body));
    });
  }

  close(): void {
    this.closed = true;
    this.s?.close();
  }
}

/** The 5-byte gRPC message prefix (not compressed, big-endian length) and the message. */
function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + body.byteLength);
  out[0] = 0;
  out.writeUInt32BE(body.byteLength, 1);
  out.set(body, 5);
  return out;
}

/** The one response message of a unary call, without its prefix. */
function unframe(chunks: Buffer[]): Uint8Array {
  const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  if (buf.byteLength < 5) throw new GrpcCallError(13, `response of ${buf.byteLength} bytes has no message`);
  const len = buf.readUInt32BE(1);
  if (buf[0] !== 0 || len !== buf.byteLength - 5) {
    throw new GrpcCallError(13, `bad response frame: flag ${buf[0]}, length ${len} of ${buf.byteLength - 5}`);
  }
  return buf.subarray(5);
}
