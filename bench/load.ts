// The closed-loop load generator: `concurrency` workers, each with one request in flight, for a
// warm-up (not recorded) and then a measured window. Latencies are kept as samples (a few tens of
// thousands per point at most) and sorted once for the percentiles.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { EventLoopDelay } from './event-loop.ts';
import type { Client } from './targets.ts';

export const WORKLOADS = [
  'put-1',
  'put-16',
  'put-64',
  'put-256',
  'get-lin-64',
  'get-ser-64',
  'mix-64',
] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface WorkloadSpec {
  readonly op: 'put' | 'get-lin' | 'get-ser' | 'mix';
  readonly concurrency: number;
}

export function parseWorkload(w: string): WorkloadSpec {
  const m = /^(put|get-lin|get-ser|mix)-(\d+)$/.exec(w);
  if (m === null)
    throw new Error(`unknown workload "${w}": expected e.g. put-64, get-lin-64, get-ser-64, mix-64`);
  const concurrency = Number(m[2]);
  if (concurrency < 1 || concurrency > 4096) throw new Error(`workload ${w}: concurrency must be 1..4096`);
  return { op: m[1] as WorkloadSpec['op'], concurrency };
}

export interface RunResult {
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly errors: number;
  readonly firstError?: string;
  /** Server CPU (user + system, every server process) per operation, in µs. */
  readonly serverCpuUsPerOp: number;
  /** This process's CPU per operation, in µs. */
  readonly clientCpuUsPerOp: number;
  /**
   * Each server process's CPU per operation, in µs, in the order of the pids: all its threads, and
   * its main thread alone (the rest is GC helpers, the libuv pool's fsyncs, worker threads).
   */
  readonly serverCpuEach?: readonly {
    readonly pid: number;
    readonly usPerOp: number;
    readonly mainUsPerOp: number;
  }[];
  /** Event-loop delay of each server process over the window, when they carry the probe (ringkv). */
  readonly eventLoop?: readonly EventLoopDelay[];
}

/** The key space of every workload unless `--keys` says otherwise; reads go to keys written by prefill. */
export const KEY_COUNT_DEFAULT = 1000;
/** Bounds `--keys`: the key list lives in the load generator's memory (about 100 bytes a key). */
export const KEY_COUNT_MAX = 10_000_000;

/** `bench/key/000000`…: six digits (as always), more when the key space needs them. */
export function makeKeys(count: number): Uint8Array[] {
  if (!Number.isInteger(count) || count < 1 || count > KEY_COUNT_MAX)
    throw new Error(`key count must be an integer in [1, ${KEY_COUNT_MAX}], got ${count}`);
  const digits = Math.max(6, String(count - 1).length);
  return Array.from({ length: count }, (_, i) => Buffer.from(`bench/key/${String(i).padStart(digits, '0')}`));
}

export function benchValue(sizeBytes: number): Uint8Array {
  const v = Buffer.alloc(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) v[i] = 97 + (i % 26);
  return v;
}

/** How a prefill went: puts that failed and were sent again (a put is idempotent). */
export interface PrefillResult {
  readonly retried: number;
  readonly firstError?: string;
}

/**
 * Writes every key once, so that reads find them; `onProgress` hears the number of keys written.
 * A failed put is sent again up to `retriesMax` times (a stall of the servers must not end a long
 * preload, but it is counted); after that the prefill fails (the workloads that follow would read
 * keys that are not there).
 */
export async function prefill(
  c: Client,
  keys: readonly Uint8Array[],
  value: Uint8Array,
  concurrency = 32,
  onProgress?: (written: number) => void,
  retriesMax = 0,
): Promise<PrefillResult> {
  let next = 0;
  let written = 0;
  let retried = 0;
  let firstError: string | undefined;
  const put = async (key: Uint8Array): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await c.put(key, value);
        return;
      } catch (e) {
        if (attempt >= retriesMax) throw e;
        retried++;
        firstError ??= String(e);
      }
    }
  };
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const i = next++;
      await put(keys[i] as Uint8Array);
      written++;
      onProgress?.(written);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
  return firstError === undefined ? { retried } : { retried, firstError };
}

/** utime + stime of a process, in µs (0 if it is gone). */
export function processCpuUs(pid: number): number {
  return statCpuUs(`/proc/${pid}/stat`);
}

/** utime + stime of a process's main thread alone, in µs (0 if it is gone). */
function mainThreadCpuUs(pid: number): number {
  return statCpuUs(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuUs(path: string): number {
  try {
    const s = procStat(path);
    return s.userUs + s.systemUs;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS_PER_SEC = 100;

/** What a /proc/…/stat file says of a process or thread: minor page faults, user and system CPU. */
export interface ProcStat {
  readonly minorFaults: number;
  readonly userUs: number;
  readonly systemUs: number;
}

/** Reads `path` (/proc/PID/stat or /proc/PID/task/TID/stat); throws if it is gone. */
export function procStat(path: string): ProcStat {
  const stat = readFileSync(path, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 on.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const us = (ticks: string | undefined): number => (Number(ticks) * 1e6) / CLOCK_TICKS_PER_SEC;
  return { minorFaults: Number(rest[7]), userUs: us(rest[11]), systemUs: us(rest[12]) };
}

/** The value at quantile p (0..1) of ascending samples: the smallest with at least p of them at or below it. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i] as number;
}

/** What watches the servers during the measured window (bench/event-loop.ts for ringkv). */
export interface WindowProbe {
  begin(): void;
  end(): Promise<EventLoopDelay[]>;
}

export interface RunOptions {
  readonly spec: WorkloadSpec;
  readonly keys: readonly Uint8Array[];
  readonly value: Uint8Array;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly serverPids: readonly number[];
  readonly onTick?: (elapsedMs: number) => void;
  readonly probe?: WindowProbe;
}

/**
 * Indexes into `count` keys, drawn by one xorshift sequence from a fixed seed: every run of every
 * system sends the same keys in the same order.
 */
export function keyPicker(count: number): () => number {
  let seed = 0x9e3779b9;
  return () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % count;
  };
}

/** One measured point: a warm-up, then `durationMs` of closed-loop load. */
export async function runLoad(c: Client, o: RunOptions): Promise<RunResult> {
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let recording = false;
  let stop = false;
  const rand = keyPicker(o.keys.length);
  let mixToggle = false;
  const one = (): Promise<void> => {
    const key = o.keys[rand()] as Uint8Array;
    let op = o.spec.op;
    if (op === 'mix') {
      mixToggle = !mixToggle;
      op = mixToggle ? 'put' : 'get-lin';
    }
    if (op === 'put') return c.put(key, o.value);
    return c.get(key, op === 'get-ser');
  };
  const worker = async (): Promise<void> => {
    while (!stop) {
      const start = performance.now();
      try {
        await one();
        if (recording) samples.push(performance.now() - start);
      } catch (e) {
        if (recording) {
          errors++;
          firstError ??= String(e);
        }
      }
    }
  };
  const workers = Array.from({ length: o.spec.concurrency }, worker);
  await sleepTicking(o.warmupMs, 0, o.onTick);
  o.probe?.begin();
  recording = true;
  const each0 = o.serverPids.map((p) => [processCpuUs(p), mainThreadCpuUs(p)] as const);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await sleepTicking(o.durationMs, o.warmupMs, o.onTick);
  recording = false;
  const elapsedMs = performance.now() - t0;
  const each1 = o.serverPids.map((p) => [processCpuUs(p), mainThreadCpuUs(p)] as const);
  const client1 = process.cpuUsage(client0);
  // Read while the load still runs: the probes answer on the servers' event loops.
  const eventLoop = await o.probe?.end();
  stop = true;
  await Promise.all(workers);
  const sorted = Float64Array.from(samples).sort();
  const ops = sorted.length;
  const perOp = (us: number): number => (ops === 0 ? Number.NaN : us / ops);
  return {
    ops,
    opsPerSec: (ops * 1000) / elapsedMs,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    maxMs: percentile(sorted, 1),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    // Unknown (NaN) when the servers are not ours to watch (--endpoints).
    serverCpuUsPerOp:
      o.serverPids.length === 0
        ? Number.NaN
        : perOp(each1.reduce((s, [all], i) => s + all - (each0[i]?.[0] ?? 0), 0)),
    serverCpuEach: o.serverPids.map((pid, i) => ({
      pid,
      usPerOp: perOp((each1[i]?.[0] ?? 0) - (each0[i]?.[0] ?? 0)),
      mainUsPerOp: perOp((each1[i]?.[1] ?? 0) - (each0[i]?.[1] ?? 0)),
    })),
    clientCpuUsPerOp: perOp(client1.user + client1.system),
    ...(eventLoop === undefined ? {} : { eventLoop }),
  };
}

async function sleepTicking(
  ms: number,
  offsetMs: number,
  onTick?: (elapsedMs: number) => void,
): Promise<void> {
  const end = performance.now() + ms;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) return;
    await new Promise((r) => setTimeout(r, Math.min(left, 250)));
    onTick?.(offsetMs + ms - Math.max(0, end - performance.now()));
  }
}
