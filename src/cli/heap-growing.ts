// How far a `ringkv serve` process lets V8's old generation grow past what its last full collection
// kept before it collects again (`--heap_growing_percent`, with a floor in bytes,
// `--heap_growing_min_mb`). V8 chooses that factor itself, between 1.1 and 4 by how fast it collects
// against how fast the program allocates; on a leader that keeps a large data set and promotes
// request-scoped objects, it settled near 2: an old generation of 229 MB for 110 MB live at 600,000
// keys (bench/README.md, "The old generation's growth"). A percentage alone starves a small heap:
// 1.5× of the 23 MB a node keeps with small data is a full collection for every 11 MB promoted,
// about one a second under load, each pausing the loop 5–11 ms. So the growth is the larger of the
// percentage and the floor: a large heap is held to 1.5×, a small one may grow by the floor.
//
// V8 reads its flag --heap-growing-percent at every full collection (MemoryController's growing
// factor), so setting it once the process runs takes effect from the next one; Node passes it with
// v8.setFlagsFromString. After each full collection (a performance observer's 'gc' entry) the
// percentage for the next one is set from what the old generation holds then. heap-growing.test.ts
// checks that this still holds for the V8 in use.
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/** `serve --heap_growing_percent`'s default: the old generation grows to 1.5× what was live. */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;
/** The flag's largest value: V8's own factor goes up to 4×, i.e. 300 %. */
export const HEAP_GROWING_PERCENT_MAX = 300;
/** `serve --heap_growing_min_mb`'s default: the old generation may always grow by 32 MB. */
export const DEFAULT_HEAP_GROWING_MIN_MB = 32;
/** The floor's largest value. */
export const HEAP_GROWING_MIN_MB_MAX = 4096;

const GC_MAJOR = constants.NODE_PERFORMANCE_GC_MAJOR;

export interface HeapGrowing {
  /** 1..300: the old generation grows by this percentage of what was live; 0: V8's own factor. */
  readonly percent: number;
  /** 0..4096: but by at least this many MB (within V8's 4×); ignored when percent is 0. */
  readonly minMb: number;
}

/**
 * The percentage to set for a full collection that follows one which left `liveBytes` in the old
 * generation: the larger of `percent` and the floor's share of what was live, at most V8's 4×.
 */
export function growingPercent(g: HeapGrowing, liveBytes: number): number {
  if (g.percent === 0) return 0;
  const floor = Math.ceil((100 * g.minMb * 1024 * 1024) / Math.max(liveBytes, 1));
  return Math.min(HEAP_GROWING_PERCENT_MAX, Math.max(g.percent, floor));
}

/** What the old generation holds now: every heap space but the young generation's and read-only. */
function oldGenerationBytes(): number {
  let bytes = 0;
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name.startsWith('new_') || s.space_name.startsWith('read_only')) continue;
    bytes += s.space_used_size;
  }
  return bytes;
}

/**
 * Sets V8's old-generation growing factor as `g` says, now (from what the old generation holds) and
 * after every full collection; returns a function that stops following collections. With percent 0
 * it leaves V8's own choice and follows nothing.
 */
export function setHeapGrowing(g: HeapGrowing): () => void {
  if (!Number.isInteger(g.percent) || g.percent < 0 || g.percent > HEAP_GROWING_PERCENT_MAX)
    throw new Error(
      `heap growing percent must be an integer from 0 to ${HEAP_GROWING_PERCENT_MAX}, got ${g.percent}`,
    );
  if (!Number.isInteger(g.minMb) || g.minMb < 0 || g.minMb > HEAP_GROWING_MIN_MB_MAX)
    throw new Error(
      `heap growing floor must be an integer from 0 to ${HEAP_GROWING_MIN_MB_MAX} MB, got ${g.minMb}`,
    );
  if (g.percent === 0) return () => {};
  let set = 0;
  const update = (): void => {
    const p = growingPercent(g, oldGenerationBytes());
    if (p === set) return;
    v8.setFlagsFromString(`--heap-growing-percent=${p}`);
    set = p;
  };
  update();
  if (g.minMb === 0) return () => {};
  const observer = new PerformanceObserver((list) => {
    // Entries arrive batched, after the collections they describe; one update covers them all.
    const full = list
      .getEntries()
      .some((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === GC_MAJOR);
    if (full) update();
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
