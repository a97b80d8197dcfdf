// `ringkv demo` (`npm run demo`): three real nodes in the simulator's world (virtual time)
// that prints, in a few readable lines, what it did. Exit status 1 if any step failed.
import { runDemo } from '../../sim/demo.ts';

export async function runDemoCommand(opts: Record<string, unknown>): Promise<number> {
  const raw = String(opts.seed ?? '1').trim();
  const seed = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(seed)) {
    process.stderr.write(`ringkv demo: --seed must be a non-negative integer (got '${raw}')\n`);
    return 2;
  }
  process.stdout.write(
    `ringkv demo: three ringkv nodes on a simulated clock, disk and network (seed ${seed})\n`,
  );
  const result = await runDemo(seed);
  for (const line of result.lines) process.stdout.write(`${line}\n`);
  process.stdout.write(
    result.ok
      ? 'demo finished: every step checked. For the full simulator run `npx ringkv sim --seeds 100`.\n'
      : 'demo FAILED (see above)\n',
  );
  return result.ok ? 0 : 1;
}
