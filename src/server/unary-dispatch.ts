// The service side of a unary gRPC call, apart from HTTP/2: find the method by path, decode the
// request, run its handler `(request, { deadlineMs, forwarded })`, then encode the response behind
// its 5-byte prefix, or turn the failure into a status (errors.ts, the one mapping). The HTTP/2 side
// (unary-http2.ts) runs either in the same thread or in the client-API worker thread; both hand
// requests here as UnaryRequest and take back a UnaryReply.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { encodeFrame, frameOf } from '../transport/grpc-frames.ts';
import { GrpcStatus, type GrpcStatusCode } from '../transport/grpc-status.ts';
import { toGrpcError } from './errors.ts';

/** What a handler learns of its call besides the request. */
export interface CallContext {
  /** When the answer is due, in ms since the epoch (deadline.ts: the client's, capped by the method's limit). */
  readonly deadlineMs: number;
  /** Metadata `ringkv-forwarded: 1`: another node forwarded this request (see context.ts). */
  readonly forwarded: boolean;
}

/**
 * Serves one method: resolves with the response, or rejects with a NodeError (or another node's
 * RemoteStatusError) that becomes the call's status; anything else is answered INTERNAL and logged.
 */
export interface UnaryHandler<Req, Res> {
  (request: Req, call: CallContext): Promise<Res>;
  /** The longest this method may run, whatever the client allows (ms); the server's default if absent. */
  readonly deadlineLimitMs?: number;
}

/** What the server needs of a generated method definition (ts-proto's `outputServices=grpc-js`). */
export interface UnaryMethodDefinition<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  requestDeserialize(bytes: Buffer): Req;
  responseSerialize(response: Res): Buffer;
}

export type ServiceDefinition = Readonly<Record<string, UnaryMethodDefinition<unknown, unknown>>>;

/** One handler per method of service `S`, typed by the method's request and response. */
export type ServiceHandlers<S extends ServiceDefinition> = {
  readonly [K in keyof S]: S[K] extends UnaryMethodDefinition<infer Req, infer Res>
    ? UnaryHandler<Req, Res>
    : never;
};

/** A response type's encoder into a given writer: ts-proto's generated `X.encode`. */
export interface MessageEncoder {
  encode(message: unknown, writer: BinaryWriter): BinaryWriter;
}

/** One encoder per method of service `S`, by the service's method names. */
export type ServiceEncoders<S extends ServiceDefinition> = { readonly [K in keyof S]: MessageEncoder };

/** One complete request as the HTTP/2 side received it. */
export interface UnaryRequest extends CallContext {
  readonly path: string;
  /** The protobuf message, without gRPC's 5-byte prefix. */
  readonly message: Uint8Array;
}

/** The answer: code 0 with the response message, or a gRPC status with its trailing metadata. */
export type UnaryReply =
  | {
      readonly code: 0;
      /** The response message after gRPC's 5-byte prefix (0, then the length as u32 big-endian). */
      readonly framed: Uint8Array;
    }
  | {
      readonly code: GrpcStatusCode;
      readonly details: string;
      readonly trailers: Readonly<Record<string, string>>;
    };

/**
 * Counts one method's calls for the metrics (admin/request-metrics.ts): called once per answered
 * call, on this thread, with its status and the time from dispatch to answer. Must not allocate.
 */
export interface MethodObserver {
  handled(code: GrpcStatusCode, seconds: number): void;
}

export interface DispatcherOptions {
  /** The longest a call may run whatever its client allows (ms), unless its handler names a limit. */
  readonly deadlineLimitMs: number;
  /** Called with a failure that was answered INTERNAL: a bug, or a peer's INTERNAL passed on. */
  readonly onInternalError?: (err: unknown, path: string) => void;
  /** Each served method's observer, asked once per method when its service is added (none: not counted). */
  readonly observeMethod?: ((path: string) => MethodObserver) | undefined;
}

interface Method {
  readonly def: UnaryMethodDefinition<unknown, unknown>;
  readonly handler: UnaryHandler<unknown, unknown>;
  readonly encoder: MessageEncoder | undefined;
  readonly deadlineLimitMs: number;
  readonly observer: MethodObserver | undefined;
}

/** A writer that grew past this (a large Scan answer) is dropped rather than kept at that size. */
const WRITER_KEEP_BYTES = 1024 * 1024;

export class UnaryDispatcher {
  private readonly methods = new Map<string, Method>();
  private readonly o: DispatcherOptions;
  /**
   * One writer for every response, reused: a fresh one per response grows by doubling from a
   * small buffer, and the definition's serializer then copies the result twice more (into a Buffer,
   * and behind the 5-byte prefix). Here the prefix is written first and the message after it, so a
   * response costs one exact-size copy.
   */
  private writer = new BinaryWriter();

  constructor(o: DispatcherOptions) {
    if (!(o.deadlineLimitMs > 0))
      throw new Error(`deadlineLimitMs must be positive, got ${o.deadlineLimitMs}`);
    this.o = o;
  }

  /**
   * `encoders` lets responses be encoded straight behind their prefix; without it, the definition's
   * own serializer is used and the bytes copied.
   */
  addService<S extends ServiceDefinition>(
    service: S,
    handlers: ServiceHandlers<S>,
    encoders?: ServiceEncoders<S>,
  ): void {
    for (const name of Object.keys(service)) {
      const def = service[name] as UnaryMethodDefinition<unknown, unknown>;
      if (def.requestStream || def.responseStream)
        throw new Error(`${def.path}: only unary methods are served`);
      if (this.methods.has(def.path)) throw new Error(`${def.path}: served twice`);
      const handler = (handlers as Readonly<Record<string, UnaryHandler<unknown, unknown> | undefined>>)[
        name
      ];
      if (typeof handler !== 'function') throw new Error(`${def.path}: no handler`);
      const deadlineLimitMs = handler.deadlineLimitMs ?? this.o.deadlineLimitMs;
      if (!(deadlineLimitMs > 0)) throw new Error(`${def.path}: deadline limit ${deadlineLimitMs} ms`);
      const encoder = (encoders as Readonly<Record<string, MessageEncoder>> | undefined)?.[name];
      const observer = this.o.observeMethod?.(def.path);
      this.methods.set(def.path, { def, handler, encoder, deadlineLimitMs, observer });
    }
  }

  /** Every served path with its deadline limit (ms), in the order the services were added. */
  deadlineLimitsMs(): Map<string, number> {
    return new Map([...this.methods].map(([path, m]) => [path, m.deadlineLimitMs]));
  }

  /** Runs the request; `done` is called exactly once, unless the handler never settles. */
  dispatch(req: UnaryRequest, done: (reply: UnaryReply) => void): void {
    const method = this.methods.get(req.path);
    if (method === undefined) {
      done(failure(GrpcStatus.UNIMPLEMENTED, `unknown method ${req.path}`));
      return;
    }
    // Read only when counted: one clock read at each end of a call is all the metrics cost here.
    const startedAtMs = method.observer === undefined ? 0 : performance.now();
    let request: unknown;
    try {
      request = method.def.requestDeserialize(asBuffer(req.message));
    } catch (e) {
      const reply = failure(GrpcStatus.INTERNAL, `could not parse the request: ${String(e)}`);
      this.finish(method, startedAtMs, reply, done);
      return;
    }
    let answer: Promise<unknown>;
    try {
      // The request itself is the CallContext: it carries deadlineMs and forwarded.
      answer = method.handler(request, req);
    } catch (e) {
      answer = Promise.reject(e);
    }
    answer.then(
      (res) => this.finish(method, startedAtMs, this.encoded(method, res), done),
      (e: unknown) => this.finish(method, startedAtMs, this.failed(e, req.path), done),
    );
  }

  private finish(
    method: Method,
    startedAtMs: number,
    reply: UnaryReply,
    done: (reply: UnaryReply) => void,
  ): void {
    method.observer?.handled(reply.code, (performance.now() - startedAtMs) / 1000);
    done(reply);
  }

  private failed(e: unknown, path: string): UnaryReply {
    const s = toGrpcError(e);
    if (s.code === GrpcStatus.INTERNAL) this.o.onInternalError?.(e, path);
    return s;
  }

  private encoded(method: Method, res: unknown): UnaryReply {
    try {
      const framed =
        method.encoder === undefined
          ? frameOf(method.def.responseSerialize(res))
          : this.encodeFramed(method.encoder, res);
      return { code: 0, framed };
    } catch (e) {
      this.o.onInternalError?.(e, method.def.path);
      return failure(GrpcStatus.INTERNAL, `could not encode the response: ${String(e)}`);
    }
  }

  private encodeFramed(encoder: MessageEncoder, res: unknown): Uint8Array {
    let framed: Uint8Array;
    try {
      framed = encodeFrame(this.writer, (w) => encoder.encode(res, w));
    } catch (e) {
      this.writer = new BinaryWriter();
      throw e;
    }
    if (framed.byteLength > WRITER_KEEP_BYTES) this.writer = new BinaryWriter();
    return framed;
  }
}

function failure(code: GrpcStatusCode, details: string): UnaryReply {
  return { code, details, trailers: {} };
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
