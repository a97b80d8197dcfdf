// A WAL record damaged during the faults (a third of the seeds): the node refuses to start on it,
// the machine stays down to the end (the nemesis and the healing never start it again), and the rest
// of the run passes every check without it; with more machines than R, the dead member is marked
// down (the seed's dead-node timeout is short) and its replicas are re-created on the others. And
// the watch has teeth: a node that replays its WAL without verifying the checksums starts on the
// damaged record, caught as `walCorruption` during the faults.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RealSeedResult, runRealSeed } from './run.ts';

/** The seeds searched for one whose faults damage a WAL (a third of them do). */
const SEEDS_MAX = 20;
const FAULT_MS = 10_000;

/** The first seed whose faults damage a WAL, with its run (traced). */
async function firstDamagedSeed(nodes: number): Promise<RealSeedResult> {
  for (let seed = 1; seed <= SEEDS_MAX; seed++) {
    const r = await runRealSeed(seed, { nodes, faultMs: FAULT_MS, trace: true });
    if (r.stats.walDamagesUnderFaults > 0) return r;
  }
  assert.fail(`no seed of the first ${SEEDS_MAX} damaged a WAL during the faults`);
}

/** The machine whose WAL the trace says was damaged, and the line. */
function damagedIn(lines: readonly string[]): { id: string; at: number } {
  const at = lines.findIndex((l) => / corruption: n\d's .* flipped; restarting it$/.test(l));
  assert.ok(at >= 0, 'the trace notes the damage');
  return { id: /corruption: (n\d)'s/.exec(lines[at] ?? '')?.[1] ?? '', at };
}

test('a WAL damaged during the faults: the node refuses, the machine stays down, the run passes', async () => {
  const r = await firstDamagedSeed(3);
  assert.deepEqual(
    r.violations.map((v) => `${v.property}: ${v.detail}`),
    [],
    `seed ${r.seed}; replay: npx ringkv sim --nodes 3 --seeds 1 --start ${r.seed} --trace`,
  );
  const lines = r.traceLines ?? [];
  const { id, at: damaged } = damagedIn(lines);
  const refused = lines.findIndex(
    (l, i) => i > damaged && l.includes(` ${id}#`) && l.includes('refused to start'),
  );
  assert.ok(refused > damaged, `${id} refused to start`);
  assert.match(lines[refused] ?? '', /corrupt/);
  const healed = lines.findIndex((l) => l.endsWith('nemesis: healed, calm network'));
  assert.ok(healed > refused, 'the damage came during the faults');
  const after = lines.slice(refused + 1);
  assert.deepEqual(
    after.filter((l) => new RegExp(` ${id}#\\d+ (restarting|starting|started)`).test(l)),
    [],
    `${id} is never started again`,
  );
  assert.ok(
    lines.slice(healed).some((l) => l.endsWith(' settled')),
    'the table settled with the dead member in it',
  );
  // The end-of-run damage is not done again: one damaged WAL per seed.
  assert.ok(lines.some((l) => l.includes(`corruption: ${id}'s WAL was damaged during the faults; no other`)));
});

test('with 4 machines, the dead member is marked down and its replicas re-created on the others', async () => {
  const r = await firstDamagedSeed(4);
  assert.deepEqual(
    r.violations.map((v) => `${v.property}: ${v.detail}`),
    [],
    `seed ${r.seed}; replay: npx ringkv sim --nodes 4 --seeds 1 --start ${r.seed} --trace`,
  );
  const lines = r.traceLines ?? [];
  const { id, at } = damagedIn(lines);
  // The settling of the table demands it (the dead member down, in no shard); the trace shows the moves.
  const recreated = lines
    .slice(at)
    .filter((l) => new RegExp(` table: shard \\d+ move \\d+ ${id}>n\\d `).test(l));
  assert.ok(recreated.length > 0, `no replica moved off ${id}`);
  assert.ok(
    lines.slice(at).some((l) => l.includes(` table: member ${id} down `)),
    `${id} marked down`,
  );
});

test('a node that skips the checksums on replay starts on the damaged record: walCorruption during the faults', async () => {
  // A seed may fail before its damage instead (a torn last record replayed as data fails the node):
  // the search goes on past it.
  const others: string[] = [];
  for (let seed = 1; seed <= SEEDS_MAX; seed++) {
    const r = await runRealSeed(seed, { nodes: 3, faultMs: FAULT_MS, bug: 'skipCrcOnReplay' });
    if (r.stats.walDamagesUnderFaults === 0) continue;
    const v = r.violations[0];
    if (v?.property === 'walCorruption' && v.phase === 'fault') return;
    others.push(
      `seed ${seed}: ${v === undefined ? 'no violation' : `${v.property} in the ${v.phase} phase`}`,
    );
  }
  assert.fail(`not found as walCorruption during the faults: ${others.join('; ')}`);
});
