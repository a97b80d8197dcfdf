// How far a `ringkv serve` process lets V8's old generation grow past what its last full collection
// kept before it collects again (`--heap_growing_percent`). V8 chooses that factor itself, between
// 1.1 and 4 by how fast it collects against how fast the program allocates; on a leader that keeps a
// large data set and promotes request-scoped objects, it settled near 2: an old generation of
// 229 MB for 110 MB live at 600,000 keys (bench/README.md, "The old generation's growth").
//
// V8 reads its flag --heap-growing-percent at every full collection (MemoryController's growing
// factor), so setting it once the process runs takes effect from the next one; Node passes it with
// v8.setFlagsFromString. heap-growing.test.ts checks that this still holds for the V8 in use.
import v8 from 'node:v8';

/** `serve --heap_growing_percent`'s default: the old generation grows to 1.5× what was live. */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;
/** The flag's largest value: V8's own factor goes up to 4×, i.e. 300 %. */
export const HEAP_GROWING_PERCENT_MAX = 300;

/** Sets V8's old-generation growing factor to 1 + percent / 100; 0 leaves V8's own choice. */
export function setHeapGrowingPercent(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > HEAP_GROWING_PERCENT_MAX)
    throw new Error(
      `heap growing percent must be an integer from 0 to ${HEAP_GROWING_PERCENT_MAX}, got ${percent}`,
    );
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
