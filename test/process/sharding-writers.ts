// The writers of the sharding scenario: W concurrent clients of the real client library, each the
// only writer of its share of the keys (key i belongs to writer i mod W), putting them over and over
// in turn, with a get of some key (any writer's) after every second put. Every call and outcome goes
// to one history (src/cli/chaos/history.ts, the recorder `ringkv chaos` writes its jepsen-kv file
// with), and every request's wait is kept per phase of the scenario.
//
// The ledger of "every acknowledged write reads back": a key has one writer, which waits for each
// put before the next, so after the writers stop the key holds its last acknowledged value, or the
// value of a put whose outcome was unknown (it may have taken effect, now or later).

import type { HistoryRecorder, OpenCall } from '../../src/cli/chaos/history.ts';
import { outcomeOf } from '../../src/cli/chaos/workload.ts';
import { bytesToUtf8, type RingkvClient, RingkvError } from '../../src/client/index.ts';
import type { KvInput, KvOutput } from '../../src/lincheck/index.ts';
import { inParallel } from './in-parallel.ts';

/** Pause after a failed request, so that a writer does not spin on a node that is gone. */
const BACKOFF_AFTER_FAILURE_MS = 50;
/** Bound on the values of writes with an unknown outcome kept per key. */
const UNKNOWN_PER_KEY_MAX = 64;

export interface WritersOptions {
  readonly writers: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly opTimeoutMs: number;
}

/** The longest wait and the counts of one phase. */
export interface PhaseLatency {
  latencyMsMax: number;
  /** What the longest wait was: `put k17 ok`, `get k3 UNAVAILABLE`. */
  latencyMaxOp: string;
  /** When the longest-waiting request started (performance.now(), ms). */
  latencyMaxStartMs: number;
  latencyMaxKey: string;
  ok: number;
  failed: number;
  /** The first FAILURES_KEPT failures: the request and the error's message. */
  failures: string[];
}

/** Failures a phase keeps the message of (for the test's diagnostics). */
const FAILURES_KEPT = 3;

export function keyOf(i: number): string {
  return `k${String(i).padStart(6, '0')}`;
}

/** `valueBytes` bytes: the key and the writer's sequence number, padded (ASCII, so bytes = chars). */
export function valueFor(key: string, seq: number, valueBytes: number): string {
  const head = `${key}:${seq}:`;
  if (head.length > valueBytes) throw new RangeError(`a value of ${valueBytes} bytes cannot hold ${head}`);
  return head.padEnd(valueBytes, 'x');
}

export class Writers {
  /** The phase a request is counted in, by when it started; set by the scenario. */
  phase = 'preload';
  readonly latency = new Map<string, PhaseLatency>();
  private readonly history: HistoryRecorder;
  private readonly opts: WritersOptions;
  /** Invariant: a key's entry is its last acknowledged value (set once every key has been put). */
  private readonly acked = new Map<string, string>();
  /** Values of puts whose outcome is unknown, per key (bounded: UNKNOWN_PER_KEY_MAX). */
  private readonly unknown = new Map<string, string[]>();
  private stopping = false;
  private loops: Promise<void>[] = [];
  /** Per writer: its process id in the history (a new one after an unknown outcome, as in Jepsen). */
  private readonly process: number[];

  constructor(history: HistoryRecorder, opts: WritersOptions) {
    if (!(opts.writers >= 1 && opts.keys >= opts.writers && opts.valueBytes >= 16))
      throw new RangeError(`writers need keys >= writers >= 1 and values >= 16 B: ${JSON.stringify(opts)}`);
    this.history = history;
    this.opts = opts;
    this.process = Array.from({ length: opts.writers }, (_, w) => w);
  }

  get ackedCount(): number {
    return this.acked.size;
  }

  /** Every writer puts each of its keys once (the loop's reads then never find a key absent). */
  async preload(clients: readonly RingkvClient[]): Promise<void> {
    await Promise.all(
      clients.map(async (client, w) => {
        for (let i = w; i < this.opts.keys; i += this.opts.writers) {
          const key = keyOf(i);
          for (let attempt = 0; !this.acked.has(key); attempt++) {
            if (attempt >= 20) throw new Error(`preload: ${key} was not acknowledged in 20 attempts`);
            await this.one(client, w, { kind: 'put', key, value: valueFor(key, 0, this.opts.valueBytes) });
          }
        }
      }),
    );
  }

  /** Starts the loops (one per client, in writer order); stop() ends them. */
  start(clients: readonly RingkvClient[]): void {
    if (this.loops.length > 0) throw new Error('writers already started');
    if (clients.length !== this.opts.writers)
      throw new Error(`${clients.length} clients for ${this.opts.writers} writers`);
    this.loops = clients.map((client, w) => this.loop(client, w));
  }

  /** Stops issuing requests and waits for those in flight (each bounded by its deadline). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async loop(client: RingkvClient, w: number): Promise<void> {
    const own = Math.ceil((this.opts.keys - w) / this.opts.writers);
    for (let n = 0; !this.stopping && !this.history.full; n++) {
      const key = keyOf(w + this.opts.writers * (n % own));
      await this.one(client, w, { kind: 'put', key, value: valueFor(key, n + 1, this.opts.valueBytes) });
      if (n % 2 === 1 && !this.stopping) {
        const other = keyOf((n * 7919 + w * 104_729) % this.opts.keys);
        await this.one(client, w, { kind: 'get', key: other });
      }
    }
  }

  /** One request, recorded; returns whether it succeeded. */
  private async one(client: RingkvClient, w: number, input: KvInput): Promise<boolean> {
    const phase = this.phase;
    const call = this.history.invoke(this.process[w]!, input);
    const t0 = performance.now();
    let outcome = 'ok';
    try {
      const output = await perform(client, input, this.opts.opTimeoutMs);
      this.history.ok(call, output);
      if (input.kind === 'put') this.acked.set(input.key, input.value);
    } catch (e) {
      outcome = this.failed(call, w, input, e);
      const l = this.latencyOf(phase);
      if (l.failures.length < FAILURES_KEPT)
        l.failures.push(
          `${input.kind} ${input.key}: ${e instanceof Error ? e.message : String(e)}` +
            (e instanceof RingkvError && e.endpoint !== undefined ? ` (at ${e.endpoint})` : ''),
        );
    }
    this.note(phase, input.key, `${input.kind} ${input.key} ${outcome}`, t0, outcome === 'ok');
    if (outcome !== 'ok') await new Promise((r) => setTimeout(r, BACKOFF_AFTER_FAILURE_MS));
    return outcome === 'ok';
  }

  private failed(call: OpenCall, w: number, input: KvInput, e: unknown): string {
    const code = e instanceof RingkvError ? e.code : `ERROR ${String(e)}`;
    if (outcomeOf(input, e).outcome === 'fail') {
      this.history.fail(call, code);
      return code;
    }
    this.history.info(call, code);
    // A write that may take effect later: its process is never used again.
    this.process[w] = this.process[w]! + this.opts.writers;
    if (input.kind === 'put') {
      const seen = this.unknown.get(input.key) ?? [];
      if (seen.length >= UNKNOWN_PER_KEY_MAX)
        throw new Error(`more than ${UNKNOWN_PER_KEY_MAX} puts of ${input.key} with an unknown outcome`);
      seen.push(input.value);
      this.unknown.set(input.key, seen);
    }
    return code;
  }

  private note(phase: string, key: string, what: string, startMs: number, ok: boolean): void {
    const ms = performance.now() - startMs;
    const l = this.latencyOf(phase);
    if (ms > l.latencyMsMax) {
      l.latencyMsMax = ms;
      l.latencyMaxOp = what;
      l.latencyMaxStartMs = startMs;
      l.latencyMaxKey = key;
    }
    if (ok) l.ok++;
    else l.failed++;
  }

  private latencyOf(phase: string): PhaseLatency {
    let l = this.latency.get(phase);
    if (l === undefined) {
      l = {
        latencyMsMax: 0,
        latencyMaxOp: '',
        latencyMaxStartMs: 0,
        latencyMaxKey: '',
        ok: 0,
        failed: 0,
        failures: [],
      };
      this.latency.set(phase, l);
    }
    return l;
  }

  /**
   * Reads every key back through `client` (`parallel` at a time) and returns the keys whose value is
   * neither the last acknowledged one nor one of a put with an unknown outcome (at most 10 named).
   */
  async readBack(client: RingkvClient, parallel = 16, timeoutMs = 10_000): Promise<string[]> {
    if (!this.stopping) throw new Error('readBack while the writers still write');
    const wrong: string[] = [];
    await inParallel([...this.acked.keys()], parallel, async (key) => {
      const r = await client.get(key, { timeoutMs });
      const got = r.found ? bytesToUtf8(r.value) : undefined;
      const allowed = [this.acked.get(key), ...(this.unknown.get(key) ?? [])];
      if (got === undefined || !allowed.includes(got))
        wrong.push(
          `${key}: ${got === undefined ? 'absent' : got.slice(0, 24)}, acknowledged ${allowed[0]?.slice(0, 24)}`,
        );
    });
    return wrong.slice(0, 10).concat(wrong.length > 10 ? [`… ${wrong.length} keys in all`] : []);
  }
}

async function perform(client: RingkvClient, input: KvInput, timeoutMs: number): Promise<KvOutput> {
  switch (input.kind) {
    case 'get': {
      const r = await client.get(input.key, { timeoutMs });
      return { kind: 'get', found: r.found, value: r.found ? bytesToUtf8(r.value) : '' };
    }
    case 'put':
      await client.put(input.key, input.value, { timeoutMs });
      return { kind: 'put' };
    default:
      throw new Error(`the sharding writers do not ${input.kind}`);
  }
}
