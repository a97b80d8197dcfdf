// A batch of seeds with more machines than R = 3 (4 and 5): the joiners come during the faults
// (crashes, pauses, EIO, partitions), the rebalancer moves their share of the replicas to them, and
// with 5, one member leaves in the middle of the faults (cluster leave: drained by the rebalancer,
// removed, stopped); after healing the shard table must settle (every member hosting exactly its replicas), every
// replica of a shard hold the same state, nothing acknowledged be lost and the history be
// linearizable. The moves must have happened for the batch to mean anything.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRealSeed } from './run.ts';

const SEEDS = 8;

for (const nodes of [4, 5]) {
  test(`${SEEDS} seeds of ${nodes} real nodes (R = 3) pass every check, replicas moving`, async () => {
    let moves = 0;
    let leaves = 0;
    let movesUnderFaults = 0;
    let forwarded = 0;
    let passedOn = 0;
    let propsInRaft = 0;
    let crashes = 0;
    let linearizable = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runRealSeed(seed, { nodes });
      assert.deepEqual(
        r.violations.map((v) => `${v.property}: ${v.detail}`),
        [],
        `seed ${seed}; replay: npx ringkv sim --nodes ${nodes} --seeds 1 --start ${seed} --trace`,
      );
      moves += r.stats.moves;
      leaves += r.stats.leaves;
      movesUnderFaults += r.stats.movesUnderFaults;
      forwarded += r.stats.opsForwarded;
      passedOn += r.stats.opsPassedOn;
      propsInRaft += r.stats.propsInRaft;
      crashes += r.stats.crashes;
      if (r.stats.lincheck === 'linearizable') linearizable++;
    }
    // Each joiner takes its share: 3 replicas of 12 for the 4th machine, about 2 more for the 5th.
    assert.ok(moves >= SEEDS * (nodes - 2), `${moves} moves in ${SEEDS} seeds`);
    // Half a move per seed at least: with the disk faults a joiner is often stopped early, and its
    // moves begin once the faults have ended; losses up to 30 % and reordering slow the joins a
    // little (4 nodes, seeds 1-40, no WAL damaged during the faults: 53 of 121 moves begun under the
    // faults, 56 without those network faults); and a member whose WAL the faults damaged has its
    // replicas re-created after them (44 of 147 with it; 7 of 28 in the 4-node seeds here, 15 of 45
    // in the 5-node ones).
    assert.ok(movesUnderFaults >= SEEDS / 2, `${movesUnderFaults} of ${moves} moves begun under the faults`);
    assert.ok(forwarded >= SEEDS, `${forwarded} requests forwarded by one node's handler to another`);
    assert.ok(passedOn >= SEEDS, `${passedOn} requests passed on to a node holding the shard`);
    assert.ok(propsInRaft >= SEEDS * 10, `${propsInRaft} proposals handed to a leader by a follower`);
    assert.ok(crashes >= SEEDS, `${crashes} crashes`);
    // With 5 machines one member leaves (drained, removed, stopped) once every machine has joined,
    // if that happens before the faults end: the disk faults stop a joiner now and then, its join may
    // still be under way when the faults end, and losses up to 30 % and reordering slow the joins.
    // With followers serving requests: 22 of seeds 1–48, 2 of these 8 (the seeds are fixed, so the
    // count changes only with the code: before followers served, 10 of the first 24, 3 of these 8).
    if (nodes === 5) assert.ok(leaves >= 2, `${leaves} members left in ${SEEDS} seeds`);
    assert.ok(linearizable >= SEEDS - 1, `${linearizable} of ${SEEDS} histories checked to the end`);
  });
}
