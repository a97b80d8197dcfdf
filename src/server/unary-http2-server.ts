// A lean unary gRPC server (HTTP/2 by src/transport/h2) serving generated service definitions with handlers
// `(request, { deadlineMs, forwarded }) => Promise<response>` (unary-dispatch.ts). Two ways to run it:
// - `inline`: HTTP/2 (unary-http2.ts) and the handlers (unary-dispatch.ts) on the caller's thread;
// - `worker`: HTTP/2 on a worker thread (client-api-worker.ts), requests and replies crossing in
//   batches (unary-batch.ts); the handlers still run on the caller's thread, which owns the node.
// Unary methods go through addService (a streaming method is refused there); the one server-streaming
// method (Watch) is added with addServerStream and served inline only: in worker mode its path is
// answered UNIMPLEMENTED naming the flag (its events come from the node's thread, and the batched
// request/reply wire between the threads carries one reply per call).
import { Worker } from 'node:worker_threads';
import type { ServerTls } from '../transport/tls.ts';
import type { ClientApiThread } from './client-api-thread.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './client-api-worker.ts';
import type { ServerStreamHandler } from './server-stream.ts';
import { ReplyBatchWriter, readRequests } from './unary-batch.ts';
import {
  type DispatcherOptions,
  type ServiceDefinition,
  type ServiceEncoders,
  type ServiceHandlers,
  UnaryDispatcher,
} from './unary-dispatch.ts';
import { UnaryHttp2Listener } from './unary-http2.ts';

export interface UnaryServerOptions extends DispatcherOptions {
  readonly maxReceiveBytes: number;
  readonly thread: ClientApiThread;
  /** Called if the worker thread fails after it started listening (the client port is gone). */
  readonly onWorkerFailure?: (err: Error) => void;
  /** Serve TLS (h2 by ALPN) instead of h2c. */
  readonly tls?: ServerTls | undefined;
  /** A client's TLS handshake failed (rate-limited: see H2Server). */
  readonly onTlsFailure?: ((reason: string, remoteAddress: string) => void) | undefined;
}

/** How long close() waits beyond its grace period for the worker to report that it closed. */
const WORKER_CLOSE_SLACK_MS = 1000;

export class UnaryHttp2Server {
  private readonly dispatcher: UnaryDispatcher;
  private readonly o: UnaryServerOptions;
  private front: InlineFront | WorkerFront | undefined;
  private readonly streams = new Map<string, ServerStreamHandler>();

  constructor(o: UnaryServerOptions) {
    this.o = o;
    this.dispatcher = new UnaryDispatcher(o);
  }

  /** `encoders`: see UnaryDispatcher.addService. */
  addService<S extends ServiceDefinition>(
    service: S,
    handlers: ServiceHandlers<S>,
    encoders?: ServiceEncoders<S>,
  ): void {
    if (this.front !== undefined) throw new Error('addService after listen');
    this.dispatcher.addService(service, handlers, encoders);
  }

  /** A server-streaming method at `path` (inline mode only; see the header). */
  addServerStream(path: string, handler: ServerStreamHandler): void {
    if (this.front !== undefined) throw new Error('addServerStream after listen');
    if (this.streams.has(path)) throw new Error(`${path}: served twice`);
    this.streams.set(path, handler);
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    if (this.front !== undefined) throw new Error('listen called twice');
    this.front =
      this.o.thread === 'worker'
        ? new WorkerFront(this.dispatcher, this.o, [...this.streams.keys()])
        : new InlineFront(this.dispatcher, this.o, this.streams);
    return this.front.listen(host, port);
  }

  /** Stops accepting; calls in flight get up to `graceMs` to finish, then the sessions are destroyed. */
  close(graceMs = 2000): Promise<void> {
    return this.front?.close(graceMs) ?? Promise.resolve();
  }
}

class InlineFront {
  private readonly listener: UnaryHttp2Listener;

  constructor(
    dispatcher: UnaryDispatcher,
    o: UnaryServerOptions,
    streams: ReadonlyMap<string, ServerStreamHandler>,
  ) {
    this.listener = new UnaryHttp2Listener({
      maxReceiveBytes: o.maxReceiveBytes,
      deadlineLimitsMs: dispatcher.deadlineLimitsMs(),
      handle: (req, reply) => dispatcher.dispatch(req, reply),
      streams,
      tls: o.tls,
      onTlsFailure: o.onTlsFailure,
    });
  }

  listen(host: string, port: number): Promise<number> {
    return this.listener.listen(host, port);
  }

  close(graceMs: number): Promise<void> {
    return this.listener.close(graceMs);
  }
}

class WorkerFront {
  private readonly worker: Worker;
  private readonly replies = new ReplyBatchWriter();
  private flushing = false;
  private exited = false;
  private pendingListen: { resolve: (port: number) => void; reject: (e: Error) => void } | undefined;
  private pendingClose: (() => void) | undefined;
  private readonly onTlsFailure: UnaryServerOptions['onTlsFailure'];

  constructor(dispatcher: UnaryDispatcher, o: UnaryServerOptions, streamPaths: readonly string[]) {
    this.onTlsFailure = o.onTlsFailure;
    const methods = [...dispatcher.deadlineLimitsMs()];
    const paths = methods.map(([path]) => path);
    const refused = streamPaths.map(
      (p) =>
        [
          p,
          `${p} is a streaming method, served only with --client_api_thread inline (this node runs its client API on a worker thread)`,
        ] as const,
    );
    const setup: WorkerSetup = { maxReceiveBytes: o.maxReceiveBytes, methods, refused, tls: o.tls };
    // The worker's file is .ts in the repository and .js in the installed package (dist/).
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    this.worker = new Worker(new URL(`./client-api-worker${ext}`, import.meta.url), { workerData: setup });
    this.worker.on('message', (m: ArrayBuffer | FromWorker) => {
      if (m instanceof ArrayBuffer) this.dispatchBatch(dispatcher, paths, m);
      else this.onControl(m);
    });
    const failed = (err: Error): void => {
      this.exited = true;
      // While closing, a dying worker only ends the close; before listening, it fails listen().
      const closing = this.pendingClose;
      if (closing !== undefined) closing();
      else if (this.pendingListen !== undefined) this.pendingListen.reject(err);
      else o.onWorkerFailure?.(err);
    };
    this.worker.on('error', failed);
    this.worker.on('exit', (code) => {
      if (!this.exited) failed(new Error(`the client-API worker thread exited with code ${code}`));
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pendingListen = { resolve, reject };
      this.post({ type: 'listen', host, port });
    });
  }

  close(graceMs: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.pendingClose?.(), graceMs + WORKER_CLOSE_SLACK_MS);
      this.pendingClose = () => {
        clearTimeout(timer);
        this.pendingClose = undefined;
        this.exited = true;
        void this.worker.terminate().finally(resolve);
      };
      this.post({ type: 'close', graceMs });
    });
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private onControl(m: FromWorker): void {
    const listen = this.pendingListen;
    if (m.type === 'tls-failure') this.onTlsFailure?.(m.reason, m.remoteAddress);
    else if (m.type === 'closed') this.pendingClose?.();
    else if (listen !== undefined) {
      this.pendingListen = undefined;
      if (m.type === 'listening') listen.resolve(m.port);
      else listen.reject(Object.assign(new Error(m.message), { code: m.code }));
    }
  }

  private dispatchBatch(dispatcher: UnaryDispatcher, paths: readonly string[], batch: ArrayBuffer): void {
    for (const r of readRequests(batch)) {
      const req = {
        path: paths[r.pathIndex] ?? '',
        message: r.message,
        deadlineMs: r.deadlineMs,
        forwarded: r.forwarded,
      };
      dispatcher.dispatch(req, (reply) => {
        this.replies.add(r.id, reply);
        if (!this.flushing) {
          this.flushing = true;
          setImmediate(() => this.flush());
        }
      });
    }
  }

  private flush(): void {
    this.flushing = false;
    if (this.replies.count === 0 || this.exited) return;
    const buf = this.replies.take();
    this.worker.postMessage(buf, [buf]);
  }
}
