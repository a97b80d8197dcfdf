// A lean gRPC server for unary methods on node:http2, serving the same grpc-js service definitions
// and handlers (ServerUnaryCall-shaped call, sendUnaryData callback). Why: @grpc/grpc-js's server
// costs about 150 µs of CPU per unary call here (interceptor chains, per-call metadata objects,
// several stream layers), which is most of a node's CPU per request on a 2-core machine. The
// protocol is the standard one — h2c, 5-byte length prefix, grpc-status/grpc-message trailers,
// custom metadata as headers — so any gRPC client (grpc-js, etcd-style hand-rolled) works as before.
// Only unary methods exist in the client API; a streaming method is refused at addService.
import http2 from 'node:http2';
import {
  Metadata,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';

interface Method {
  readonly def: MethodDefinition<unknown, unknown>;
  readonly handler: (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void;
}

/** The part of a grpc-js error the handlers pass to the callback. */
interface StatusLike {
  code?: number;
  details?: string;
  message?: string;
  metadata?: Metadata;
}

/**
 * Receive windows. HTTP/2's defaults (64 KiB per stream and per connection) let one client
 * connection carry only 64 KiB of request bodies at a time: 256 puts of 4 KiB in flight then wait
 * a window update per 16 requests. etcd's (Go) server opens its windows wide as well.
 */
const STREAM_WINDOW_BYTES = 1024 * 1024;
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' };
const TIMEOUT_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

export class UnaryHttp2Server {
  private readonly methods = new Map<string, Method>();
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly maxReceiveBytes: number;

  constructor(maxReceiveBytes: number) {
    this.maxReceiveBytes = maxReceiveBytes;
    this.server = http2.createServer({
      maxSessionMemory: 64,
      settings: { initialWindowSize: STREAM_WINDOW_BYTES },
    });
    this.server.on('session', (s) => {
      this.sessions.add(s);
      s.setLocalWindowSize(SESSION_WINDOW_BYTES);
      s.on('close', () => this.sessions.delete(s));
      s.on('error', () => {});
    });
    this.server.on('sessionError', () => {});
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  addService(service: ServiceDefinition, impl: UntypedServiceImplementation): void {
    for (const [name, def] of Object.entries(service)) {
      if (def.requestStream || def.responseStream)
        throw new Error(`${def.path}: only unary methods are served`);
      const handler = impl[name] ?? impl[def.originalName ?? name];
      if (typeof handler !== 'function') throw new Error(`${def.path}: no handler`);
      this.methods.set(def.path, { def, handler: handler as Method['handler'] });
    }
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(a !== null && typeof a === 'object' ? a.port : port);
      });
    });
  }

  /** Stops accepting; calls in flight get up to `graceMs` to finish, then the sessions are destroyed. */
  close(graceMs = 2000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
      }, graceMs);
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const s of this.sessions) s.close();
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const path = headers[':path'] ?? '';
    const method = this.methods.get(path);
    if (method === undefined) {
      sendStatus(stream, { code: status.UNIMPLEMENTED, details: `unknown method ${path}` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.byteLength;
      if (size <= this.maxReceiveBytes + 5) chunks.push(c);
    });
    stream.on('end', () => {
      if (size > this.maxReceiveBytes + 5) {
        sendStatus(stream, {
          code: status.RESOURCE_EXHAUSTED,
          details: `received message larger than max (${size - 5} vs. ${this.maxReceiveBytes})`,
        });
        return;
      }
      this.dispatch(stream, headers, method, chunks);
    });
  }

  private dispatch(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    method: Method,
    chunks: Buffer[],
  ): void {
    const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    if (buf.byteLength < 5 || buf[0] !== 0 || buf.readUInt32BE(1) !== buf.byteLength - 5) {
      sendStatus(stream, {
        code: status.INTERNAL,
        details: 'expected exactly one uncompressed length-prefixed message',
      });
      return;
    }
    let request: unknown;
    try {
      request = method.def.requestDeserialize(buf.subarray(5));
    } catch (e) {
      sendStatus(stream, {
        code: status.INTERNAL,
        details: `could not parse the request: ${String(e)}`,
      });
      return;
    }
    const call = callOf(request, headers, method.def.path, stream);
    method.handler(call, (err, res) => {
      if (stream.destroyed || stream.closed) return;
      if (err !== null && err !== undefined) {
        sendStatus(stream, err as StatusLike);
        return;
      }
      let body: Buffer;
      try {
        body = method.def.responseSerialize(res);
      } catch (e) {
        sendStatus(stream, {
          code: status.INTERNAL,
          details: `could not encode the response: ${String(e)}`,
        });
        return;
      }
      const framed = Buffer.allocUnsafe(5 + body.byteLength);
      framed[0] = 0;
      framed.writeUInt32BE(body.byteLength, 1);
      framed.set(body, 5);
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'OK' }));
      stream.end(framed);
    });
  }
}

/** What the handlers read from a call: request, metadata, deadline, path, cancellation. */
function callOf(
  request: unknown,
  headers: http2.IncomingHttpHeaders,
  path: string,
  stream: http2.ServerHttp2Stream,
): ServerUnaryCall<unknown, unknown> {
  const deadline = deadlineOf(headers['grpc-timeout']);
  const call = {
    request,
    metadata: Metadata.fromHttp2Headers(headers),
    cancelled: false,
    getDeadline: () => deadline,
    getPath: () => path,
    getPeer: () =>
      `${stream.session?.socket?.remoteAddress ?? ''}:${stream.session?.socket?.remotePort ?? ''}`,
  };
  stream.once('close', () => {
    call.cancelled = true;
  });
  return call as unknown as ServerUnaryCall<unknown, unknown>;
}

function deadlineOf(timeout: string | string[] | undefined): Date | number {
  if (typeof timeout !== 'string') return Number.POSITIVE_INFINITY;
  const m = /^(\d{1,8})([HMSmun])$/.exec(timeout);
  if (m === null) return Number.POSITIVE_INFINITY;
  return new Date(Date.now() + Number(m[1]) * (TIMEOUT_UNITS_MS[m[2] as string] as number));
}

/** A trailers-only response with the status, its message and the error's metadata. */
function sendStatus(stream: http2.ServerHttp2Stream, err: StatusLike): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const code = typeof err.code === 'number' ? err.code : status.UNKNOWN;
  const details = err.details ?? err.message ?? '';
  stream.respond(
    {
      ...RESPONSE_HEADERS,
      'grpc-status': String(code),
      'grpc-message': encodeURI(details),
      ...(err.metadata?.toHttp2Headers() ?? {}),
    },
    { endStream: true },
  );
}
