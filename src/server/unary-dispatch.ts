// The service side of a unary gRPC call, apart from HTTP/2: find the method by path, decode the
// request, run the grpc-js-shaped handler, encode its answer or its status. The HTTP/2 side
// (unary-http2.ts) runs either in the same thread or in the client-API worker thread; both hand
// requests here as UnaryRequest and take back a UnaryReply.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  Metadata,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { encodeFrame, frameOf } from '../transport/grpc-frames.ts';
import { FORWARDED_KEY } from './errors.ts';

/** One complete request as the HTTP/2 side received it. */
export interface UnaryRequest {
  readonly path: string;
  /** The protobuf message, without gRPC's 5-byte prefix. */
  readonly message: Uint8Array;
  /** The client's deadline (`grpc-timeout`) in ms since the epoch; +Infinity without one. */
  readonly deadlineMs: number;
  /** Metadata `ringkv-forwarded: 1`: another node forwarded this request (see context.ts). */
  readonly forwarded: boolean;
}

/** The answer: code 0 with the response message, or a gRPC status with its trailing metadata. */
export type UnaryReply =
  | {
      readonly code: 0;
      /** The response message after gRPC's 5-byte prefix (0, then the length as u32 big-endian). */
      readonly framed: Uint8Array;
    }
  | {
      readonly code: number;
      readonly details: string;
      readonly headers: Readonly<Record<string, string | string[]>>;
    };

/** A response type's encoder into a given writer: ts-proto's generated `X.encode`. */
export interface MessageEncoder {
  encode(message: unknown, writer: BinaryWriter): BinaryWriter;
}

interface Method {
  readonly def: MethodDefinition<unknown, unknown>;
  readonly handler: (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void;
  readonly encoder: MessageEncoder | undefined;
}

/** A writer that grew past this (a large Scan answer) is dropped rather than kept at that size. */
const WRITER_KEEP_BYTES = 1024 * 1024;

/** The part of a grpc-js error the handlers pass to the callback. */
interface StatusLike {
  code?: number;
  details?: string;
  message?: string;
  metadata?: Metadata;
}

export class UnaryDispatcher {
  private readonly methods = new Map<string, Method>();
  /**
   * One writer for every response, reused: a fresh one per response grows by doubling from a
   * small buffer, and grpc-js's serializer then copies the result twice more (into a Buffer, and
   * behind the 5-byte prefix). Here the prefix is written first and the message after it, so a
   * response costs one exact-size copy.
   */
  private writer = new BinaryWriter();

  /**
   * `encoders` (one per method, by the service's method names) lets responses be encoded straight
   * behind their prefix; without it, the definition's own serializer is used and the bytes copied.
   */
  addService<S extends ServiceDefinition>(
    service: S,
    impl: UntypedServiceImplementation,
    encoders?: { readonly [K in keyof S]: MessageEncoder },
  ): void {
    for (const [name, def] of Object.entries(service)) {
      if (def.requestStream || def.responseStream)
        throw new Error(`${def.path}: only unary methods are served`);
      const handler = impl[name] ?? impl[def.originalName ?? name];
      if (typeof handler !== 'function') throw new Error(`${def.path}: no handler`);
      const encoder = (encoders as Record<string, MessageEncoder> | undefined)?.[name];
      this.methods.set(def.path, { def, handler: handler as Method['handler'], encoder });
    }
  }

  /** Every served path (the worker thread refuses others without asking). */
  paths(): string[] {
    return [...this.methods.keys()];
  }

  /** Runs the request; `done` is called exactly once, unless the handler never answers. */
  dispatch(req: UnaryRequest, done: (reply: UnaryReply) => void): void {
    const method = this.methods.get(req.path);
    if (method === undefined) {
      done(statusReply({ code: status.UNIMPLEMENTED, details: `unknown method ${req.path}` }));
      return;
    }
    let request: unknown;
    try {
      request = method.def.requestDeserialize(asBuffer(req.message));
    } catch (e) {
      done(statusReply({ code: status.INTERNAL, details: `could not parse the request: ${String(e)}` }));
      return;
    }
    method.handler(callOf(request, req), (err, res) => {
      if (err !== null && err !== undefined) {
        done(statusReply(err as StatusLike));
        return;
      }
      let framed: Uint8Array;
      try {
        framed =
          method.encoder === undefined
            ? frameOf(method.def.responseSerialize(res))
            : this.encodeFramed(method.encoder, res);
      } catch (e) {
        done(statusReply({ code: status.INTERNAL, details: `could not encode the response: ${String(e)}` }));
        return;
      }
      done({ code: 0, framed });
    });
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

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * What the handlers read from a call: the request, the forwarded mark (also as `forwarded`, which
 * spares a Metadata object per call: see isForwarded in context.ts), the deadline and the path.
 * A class, so that a call is one object (its methods are shared); the Metadata object is built
 * only when a handler asks for it.
 */
class UnaryCall {
  readonly request: unknown;
  readonly cancelled = false;
  private readonly req: UnaryRequest;

  constructor(request: unknown, req: UnaryRequest) {
    this.request = request;
    this.req = req;
  }

  get forwarded(): boolean {
    return this.req.forwarded;
  }

  get metadata(): Metadata {
    const md = new Metadata();
    if (this.req.forwarded) md.set(FORWARDED_KEY, '1');
    return md;
  }

  getDeadline(): number {
    return this.req.deadlineMs;
  }

  getPath(): string {
    return this.req.path;
  }

  getPeer(): string {
    return '';
  }
}

function callOf(request: unknown, req: UnaryRequest): ServerUnaryCall<unknown, unknown> {
  return new UnaryCall(request, req) as unknown as ServerUnaryCall<unknown, unknown>;
}

function statusReply(err: StatusLike): UnaryReply {
  const code = typeof err.code === 'number' && err.code !== 0 ? err.code : status.UNKNOWN;
  return {
    code,
    details: err.details ?? err.message ?? '',
    headers: err.metadata === undefined ? {} : headersOf(err.metadata),
  };
}

function headersOf(md: Metadata): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(md.toHttp2Headers())) {
    if (typeof v === 'string' || Array.isArray(v)) out[k] = v;
    else if (v !== undefined) out[k] = String(v);
  }
  return out;
}
