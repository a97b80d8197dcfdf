// The workload of a chaos run: concurrent clients of the real client library doing get, put, delete
// and compare-and-swap on a few hot keys, plus puts of keys written once (where a lost write cannot
// hide behind a later one), every operation with a deadline, every call and outcome recorded.
//
// Half the clients route by themselves to each shard's leader (the library's default); the other
// half are each bound to one node (`routeToLeaders: false`), which forwards, as a client behind a
// load balancer would be: during a partition some clients keep talking to the minority side, which
// is where a node that answers what it should not gets caught. Bound clients take the members in
// turn (and follow the turn when members join and leave). Half the clients of each kind only read:
// a write to a cut-off or stopped leader holds its client until the deadline, so without readers
// nobody would be asking a deposed leader anything in the moments when it could answer wrongly
// (measured: a leader that answers linearizable reads without ReadIndex went unnoticed in 6 of 8
// one-minute runs without them).

import { sleep } from '../../client/backoff.ts';
import {
  bytesToUtf8,
  CancelledError,
  DeadlineExceededError,
  IndeterminateError,
  ResourceExhaustedError,
  RingkvClient,
  RingkvError,
  UnavailableError,
} from '../../client/index.ts';
import type { KvInput, KvOutput } from '../../lincheck/index.ts';
import { Prng } from '../../sim/prng.ts';
import type { ChaosCluster, ChaosNode } from './cluster.ts';
import { HistoryRecorder, type OpenCall } from './history.ts';

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  readonly opTimeoutMs: number;
  readonly seed: number;
  /** The history's clock, in ms (the run's timeline, so that operations and faults line up). */
  readonly now?: () => number;
}

/**
 * Deadline of a reader's operation (at most the others'): a read that waits longer on a stopped node
 * is better given up and asked again, so that the read waiting there when the node resumes was
 * issued recently, after what the rest of the cluster did meanwhile.
 */
const READER_TIMEOUT_MS_MAX = 1000;
/** Pause after a failed operation, so that a client does not spin on a node that is down. */
const BACKOFF_AFTER_FAILURE_MS = 30;
/** Unexpected errors kept for the report (all are counted). */
const UNEXPECTED_KEPT_MAX = 20;

/** How an error ends an operation in the history. */
export type Outcome = 'fail' | 'info';

/**
 * A read that failed did nothing. A write the client reports UNAVAILABLE or RESOURCE_EXHAUSTED was
 * never started (src/client/README.md); any other failure of a write may have taken effect.
 */
export function outcomeOf(input: KvInput, e: unknown): { outcome: Outcome; expected: boolean } {
  if (input.kind === 'get') return { outcome: 'fail', expected: e instanceof RingkvError };
  if (e instanceof UnavailableError || e instanceof ResourceExhaustedError)
    return { outcome: 'fail', expected: true };
  const expected =
    e instanceof IndeterminateError || e instanceof DeadlineExceededError || e instanceof CancelledError;
  return { outcome: 'info', expected };
}

/** Client w, by w mod 4: leader-routed mixed, bound mixed, leader-routed reader, bound reader. */
export function roleOf(w: number): { readonly bound: boolean; readonly reader: boolean } {
  return { bound: w % 2 === 1, reader: w % 4 >= 2 };
}

export class Workload {
  readonly history: HistoryRecorder;
  readonly unexpected: string[] = [];
  unexpectedCount = 0;
  private readonly cluster: ChaosCluster;
  private readonly opts: WorkloadOptions;
  private stopping = false;
  private workers: Promise<void>[] = [];

  constructor(cluster: ChaosCluster, opts: WorkloadOptions) {
    if (!(opts.clients >= 1 && opts.keys >= 1)) throw new RangeError('a workload needs clients and keys');
    this.cluster = cluster;
    this.opts = opts;
    this.history = new HistoryRecorder(opts.now);
  }

  start(): void {
    if (this.workers.length > 0) throw new Error('workload already started');
    for (let w = 0; w < this.opts.clients; w++) this.workers.push(this.worker(w));
  }

  /** Stops issuing operations and waits for those in flight (each bounded by its deadline). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers);
  }

  private boundClient(node: ChaosNode): RingkvClient {
    return new RingkvClient({
      endpoints: [node.endpoint],
      routeToLeaders: false,
      defaultTimeoutMs: this.opts.opTimeoutMs,
    });
  }

  private async worker(w: number): Promise<void> {
    const rng = new Prng(this.opts.seed).derive(`chaos-worker-${w}`);
    const role = roleOf(w);
    const readerTimeoutMs = Math.min(this.opts.opTimeoutMs, READER_TIMEOUT_MS_MAX);
    // Bound clients of each role cover the members in turn, so that every node has a reader bound
    // to it when there are as many of them as nodes (the default: 4 clients per node).
    const pickNode = (): ChaosNode => {
      const members = this.cluster.members;
      return members[Math.floor(w / 4) % members.length]!;
    };
    let node = pickNode();
    let client = role.bound
      ? this.boundClient(node)
      : new RingkvClient({
          endpoints: this.cluster.members.map((n) => n.endpoint),
          defaultTimeoutMs: this.opts.opTimeoutMs,
        });
    const seen = new Map<string, string | null>();
    let generation = 0;
    try {
      for (let n = 0; !this.stopping && !this.history.full; n++) {
        if (role.bound && pickNode() !== node) {
          // The members changed (a join, a leave): follow the turn.
          void client.close({ timeoutMs: 0 });
          node = pickNode();
          client = this.boundClient(node);
        }
        const input = role.reader
          ? { kind: 'get' as const, key: `k${rng.nextInt(this.opts.keys)}` }
          : this.nextInput(rng, w, n, seen);
        const call = this.history.invoke(w + this.opts.clients * generation, input);
        const ok = await this.runOne(
          client,
          call,
          seen,
          role.reader ? readerTimeoutMs : this.opts.opTimeoutMs,
        );
        if (ok === 'info') generation++;
        if (ok !== 'ok') await sleep(BACKOFF_AFTER_FAILURE_MS);
      }
    } finally {
      void client.close({ timeoutMs: 0 });
    }
  }

  private nextInput(rng: Prng, w: number, n: number, seen: Map<string, string | null>): KvInput {
    const value = `w${w}-${n}`;
    if (rng.chance(0.1)) return { kind: 'put', key: `u${w}-${n}`, value };
    const key = `k${rng.nextInt(this.opts.keys)}`;
    const r = rng.nextFloat();
    if (r < 0.45) return { kind: 'get', key };
    if (r < 0.7) return { kind: 'put', key, value };
    if (r < 0.92) return { kind: 'cas', key, expected: seen.get(key) ?? null, value };
    return { kind: 'delete', key };
  }

  private async runOne(
    client: RingkvClient,
    call: OpenCall,
    seen: Map<string, string | null>,
    timeoutMs: number,
  ): Promise<'ok' | Outcome> {
    const input = call.input;
    let output: KvOutput;
    try {
      output = await perform(client, input, timeoutMs);
    } catch (e) {
      const { outcome, expected } = outcomeOf(input, e);
      const code = e instanceof RingkvError ? e.code : 'ERROR';
      if (!expected) this.noteUnexpected(input, e);
      if (outcome === 'fail') this.history.fail(call, code);
      else this.history.info(call, code);
      return outcome;
    }
    this.history.ok(call, output);
    if (output.kind === 'get') seen.set(input.key, output.found ? output.value : null);
    if (input.kind === 'put' || (input.kind === 'cas' && output.kind === 'cas' && output.succeeded))
      seen.set(input.key, input.value);
    if (input.kind === 'delete') seen.set(input.key, null);
    return 'ok';
  }

  private noteUnexpected(input: KvInput, e: unknown): void {
    this.unexpectedCount++;
    if (this.unexpected.length < UNEXPECTED_KEPT_MAX) {
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      this.unexpected.push(`${input.kind} ${input.key}: ${what}`);
    }
  }
}

async function perform(client: RingkvClient, input: KvInput, timeoutMs: number): Promise<KvOutput> {
  const opts = { timeoutMs };
  switch (input.kind) {
    case 'get': {
      const r = await client.get(input.key, opts);
      return { kind: 'get', found: r.found, value: r.found ? bytesToUtf8(r.value) : '' };
    }
    case 'put':
      await client.put(input.key, input.value, opts);
      return { kind: 'put' };
    case 'delete': {
      const r = await client.delete(input.key, opts);
      return { kind: 'delete', deleted: r.deleted };
    }
    case 'cas': {
      const expected = input.expected === null ? ({ absent: true } as const) : { value: input.expected };
      const r = await client.compareAndSwap(input.key, expected, input.value, opts);
      return { kind: 'cas', succeeded: r.succeeded };
    }
    case 'append':
      throw new Error('the chaos workload does not append');
  }
}
