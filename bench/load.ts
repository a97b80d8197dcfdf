// The closed-loop load generator: `concurrency` workers, each with one request in flight, for a
// warm-up (not recorded) and then a measured window. Latencies are kept as samples (a few tens of
// thousands per point at most) and sorted once for the percentiles.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Target } from './targets.ts';

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
  readonly errors: number;
  readonly firstError?: string;
  /** Server CPU (user + system, every server process) per operation, in µs. */
  readonly serverCpuUsPerOp: number;
  /** This process's CPU per operation, in µs. */
  readonly clientCpuUsPerOp: number;
}

/** The key space every workload uses; reads go to keys written by prefill. */
export const KEY_COUNT = 1000;
export function keyOf(i: number): Uint8Array {
  return Buffer.from(`bench/key/${String(i).padStart(6, '0')}`);
}
const KEYS: Uint8Array[] = Array.from({ length: KEY_COUNT }, (_, i) => keyOf(i));

export function benchValue(sizeBytes: number): Uint8Array {
  const v = Buffer.alloc(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) v[i] = 97 + (i % 26);
  return v;
}

/** Writes every key once, so that reads find them. */
export async function prefill(t: Target, value: Uint8Array, concurrency = 32): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < KEY_COUNT) {
      const i = next++;
      await t.put(KEYS[i] as Uint8Array, value);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** utime + stime of a process, in µs (0 if it is gone). */
export function processCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return (ticks * 1e6) / CLOCK_TICKS_PER_SEC;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS_PER_SEC = 100;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i] as number;
}

export interface RunOptions {
  readonly spec: WorkloadSpec;
  readonly value: Uint8Array;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly serverPids: readonly number[];
  readonly onTick?: (elapsedMs: number) => void;
}

/** One measured point: a warm-up, then `durationMs` of closed-loop load. */
export async function runLoad(t: Target, o: RunOptions): Promise<RunResult> {
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let recording = false;
  let stop = false;
  let seed = 0x9e3779b9;
  const rand = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % KEY_COUNT;
  };
  let mixToggle = false;
  const one = (): Promise<void> => {
    const key = KEYS[rand()] as Uint8Array;
    let op = o.spec.op;
    if (op === 'mix') {
      mixToggle = !mixToggle;
      op = mixToggle ? 'put' : 'get-lin';
    }
    if (op === 'put') return t.put(key, o.value);
    return t.get(key, op === 'get-ser');
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
  recording = true;
  const cpu0 = o.serverPids.reduce((s, p) => s + processCpuUs(p), 0);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await sleepTicking(o.durationMs, o.warmupMs, o.onTick);
  recording = false;
  const elapsedMs = performance.now() - t0;
  const cpu1 = o.serverPids.reduce((s, p) => s + processCpuUs(p), 0);
  const client1 = process.cpuUsage(client0);
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
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    // Unknown (NaN) when the servers are not ours to watch (--endpoints).
    serverCpuUsPerOp: o.serverPids.length === 0 ? Number.NaN : perOp(cpu1 - cpu0),
    clientCpuUsPerOp: perOp(client1.user + client1.system),
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
