// The longest event-loop tasks of a V8 CPU profile (.cpuprofile), for bench/profile-tasks.ts.
//
// A task is a run of consecutive samples under the same bottom frame (processImmediate: the
// setImmediate callbacks of one loop iteration; processTicksAndRejections: one microtask drain;
// …), GC and "(program)" samples in between counted with it; an "(idle)" sample ends it. Its time
// is wall time: on a machine with more runnable threads than cores it includes time the thread
// was not running, which shows as gaps between samples (`largestGapUs`).
import { type CpuProfile, shortPath } from './profile-common.ts';

export interface ProfileTask {
  /** µs since the profile's start. */
  readonly startUs: number;
  readonly wallUs: number;
  readonly gcUs: number;
  readonly largestGapUs: number;
  /** `function file:line` of the bottom frame, or '(GC / program)'. */
  readonly under: string;
  /** Time with each function of ours (a `src/` file) on the stack, most first. */
  readonly ours: readonly (readonly [string, number])[];
}

interface Run {
  bottom: number;
  first: number;
  last: number;
  gcUs: number;
}

/** The `count` longest tasks that start at or after `fromS` seconds, longest first. */
export function longestTasks(p: CpuProfile, fromS: number, count: number): ProfileTask[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const root = p.nodes[0]?.id;
  const fn = (id: number): string => byId.get(id)?.callFrame.functionName ?? '';
  const label = (id: number): string => {
    const cf = byId.get(id)?.callFrame;
    return cf === undefined
      ? '?'
      : `${cf.functionName || '(anon)'} ${shortPath(cf.url)}:${cf.lineNumber + 1}`;
  };
  const bottomOf = (id: number): number => {
    let x = id;
    for (let up = parent.get(x); up !== undefined && up !== root; up = parent.get(x)) x = up;
    return x;
  };
  // Sample i covers (ends[i-1], ends[i]] in µs since the profile's start.
  const ends: number[] = [];
  let t = 0;
  for (const d of p.timeDeltas) {
    t += d;
    ends.push(t);
  }
  const startOf = (i: number): number => (i === 0 ? 0 : (ends[i - 1] as number));
  const span = (i: number): number => (ends[i] as number) - startOf(i);

  const runs: Run[] = [];
  let cur: Run | undefined;
  p.samples.forEach((id, i) => {
    const b = bottomOf(id);
    const name = fn(b);
    if (name === '(idle)') {
      if (cur !== undefined) runs.push(cur);
      cur = undefined;
      return;
    }
    const gc = name === '(garbage collector)';
    const neutral = gc || name === '(program)';
    if (cur !== undefined && (neutral || cur.bottom === b || cur.bottom === -1)) {
      if (!neutral) cur.bottom = b;
      cur.last = i;
      if (gc) cur.gcUs += span(i);
      return;
    }
    if (cur !== undefined) runs.push(cur);
    cur = { bottom: neutral ? -1 : b, first: i, last: i, gcUs: gc ? span(i) : 0 };
  });
  if (cur !== undefined) runs.push(cur);

  const wallUs = (r: Run): number => (ends[r.last] as number) - startOf(r.first);
  return runs
    .filter((r) => startOf(r.first) >= fromS * 1e6)
    .sort((a, b) => wallUs(b) - wallUs(a))
    .slice(0, count)
    .map((r) => {
      let largestGapUs = 0;
      const ours = new Map<string, number>();
      for (let i = r.first; i <= r.last; i++) {
        largestGapUs = Math.max(largestGapUs, span(i));
        const seen = new Set<string>();
        for (let x: number | undefined = p.samples[i]; x !== undefined && x !== root; x = parent.get(x)) {
          const l = label(x);
          if (!shortPath(byId.get(x)?.callFrame.url ?? '').startsWith('src/') || seen.has(l)) continue;
          seen.add(l);
          ours.set(l, (ours.get(l) ?? 0) + span(i));
        }
      }
      return {
        startUs: startOf(r.first),
        wallUs: wallUs(r),
        gcUs: r.gcUs,
        largestGapUs,
        under: r.bottom === -1 ? '(GC / program)' : label(r.bottom),
        ours: [...ours].sort((a, b) => b[1] - a[1]),
      };
    });
}
