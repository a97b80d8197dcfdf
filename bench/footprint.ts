// What a cluster holds while the large-data workload runs: resident memory of each server process
// (VmRSS from /proc/<pid>/status, sampled on a timer, the maximum kept) and the disk each node's
// data directory takes (du, at the end).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Resident set size of a process in bytes (0 if it is gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Disk used by a directory tree in bytes (`du -s`: allocated blocks, so preallocated files count). */
export function diskBytes(dir: string): number {
  const out = execFileSync('du', ['-s', '--block-size=1', dir], { encoding: 'utf8' });
  const n = Number(out.split('\t')[0]);
  if (!Number.isFinite(n)) throw new Error(`du ${dir}: unexpected output "${out.trim()}"`);
  return n;
}

/** The largest RSS seen per process, sampled every `periodMs` until stop(). */
export class RssSampler {
  private readonly pids: readonly number[];
  private readonly maxBytes: number[];
  private readonly timer: NodeJS.Timeout;

  constructor(pids: readonly number[], periodMs = 500) {
    this.pids = pids;
    this.maxBytes = pids.map(() => 0);
    this.sample();
    this.timer = setInterval(() => this.sample(), periodMs);
    this.timer.unref();
  }

  private sample(): void {
    this.pids.forEach((p, i) => {
      this.maxBytes[i] = Math.max(this.maxBytes[i] as number, rssBytes(p));
    });
  }

  /** Takes a last sample, stops, and returns the maximum per process (in the order of the pids). */
  stop(): number[] {
    this.sample();
    clearInterval(this.timer);
    return [...this.maxBytes];
  }
}
