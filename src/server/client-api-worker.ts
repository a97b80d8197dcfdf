// The client-API worker thread: serves HTTP/2 on the client port and passes whole requests to the
// node's thread in batches (unary-batch.ts), then writes the replies back to their streams. Why a
// thread: with every shard's leader on one node (leader placement `pack`), that node's one
// JavaScript thread does every client request's HTTP/2 work; here that work runs on the other core.
// Started by UnaryHttp2Server (unary-http2-server.ts), which owns the protocol of the messages below.
import { parentPort, workerData } from 'node:worker_threads';
import type { ServerTls } from '../transport/tls.ts';
import { RequestBatchWriter, readReplies } from './unary-batch.ts';
import type { UnaryReply } from './unary-dispatch.ts';
import { UnaryHttp2Listener } from './unary-http2.ts';

export interface WorkerSetup {
  readonly maxReceiveBytes: number;
  /** Every served path with its deadline limit (ms); a request names its path by index here. */
  readonly methods: readonly (readonly [path: string, deadlineLimitMs: number])[];
  /** Paths answered UNIMPLEMENTED with the reason given (the streaming methods, served inline only). */
  readonly refused: readonly (readonly [path: string, reason: string])[];
  /** Serve TLS on the client port (PEM text crosses to the thread as it is). */
  readonly tls?: ServerTls | undefined;
}

/** Parent → worker, besides reply batches (ArrayBuffer). */
export type ToWorker =
  | { readonly type: 'listen'; host: string; port: number }
  | { readonly type: 'close'; graceMs: number };

/** Worker → parent, besides request batches (ArrayBuffer). */
export type FromWorker =
  | { readonly type: 'listening'; port: number }
  | { readonly type: 'listen-failed'; message: string; code: string }
  | { readonly type: 'closed' }
  | { readonly type: 'tls-failure'; reason: string; remoteAddress: string };

/** Ids wrap at 2^32; far more than the calls that can be in flight at once. */
const ID_LIMIT = 2 ** 32;

function serve(port: NonNullable<typeof parentPort>, setup: WorkerSetup): void {
  const pathIndex = new Map(setup.methods.map(([p], i) => [p, i]));
  const waiting = new Map<number, (r: UnaryReply) => void>();
  const batch = new RequestBatchWriter();
  let nextId = 0;
  let flushing = false;
  const flush = (): void => {
    flushing = false;
    if (batch.count === 0) return;
    const buf = batch.take();
    port.postMessage(buf, [buf]);
  };
  const listener = new UnaryHttp2Listener({
    maxReceiveBytes: setup.maxReceiveBytes,
    deadlineLimitsMs: new Map(setup.methods),
    refused: new Map(setup.refused),
    tls: setup.tls,
    onTlsFailure: (reason, remoteAddress) =>
      port.postMessage({ type: 'tls-failure', reason, remoteAddress } satisfies FromWorker),
    handle: (req, reply) => {
      const id = nextId;
      nextId = (nextId + 1) % ID_LIMIT;
      waiting.set(id, reply);
      batch.add({ ...req, id, pathIndex: pathIndex.get(req.path) as number });
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    },
  });
  port.on('message', (m: ArrayBuffer | ToWorker) => {
    if (m instanceof ArrayBuffer) {
      for (const { id, reply } of readReplies(m)) {
        const answer = waiting.get(id);
        waiting.delete(id);
        answer?.(reply);
      }
    } else if (m.type === 'listen') {
      listener.listen(m.host, m.port).then(
        (bound) => port.postMessage({ type: 'listening', port: bound } satisfies FromWorker),
        (e: NodeJS.ErrnoException) =>
          port.postMessage({
            type: 'listen-failed',
            message: e.message,
            code: e.code ?? '',
          } satisfies FromWorker),
      );
    } else {
      void listener.close(m.graceMs).then(() => port.postMessage({ type: 'closed' } satisfies FromWorker));
    }
  });
}

if (parentPort !== null) serve(parentPort, workerData as WorkerSetup);
