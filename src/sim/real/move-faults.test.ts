// The replica-move state machine under a fault aimed at each of its steps, in the real-node world:
// 4 machines (n4 joins; the rebalancer moves 3 replicas to it, one at a time), clients running, the
// random nemesis off; when a move reaches the aimed step, the machine holding the aimed role for it
// (the move's source, its target, the shard's leader, the metadata leader) is crashed and restarted,
// or cut off from the others and healed, after a short delay (under an election timeout) or a long
// one; while a long fault lasts, every group must be served by a leader on the other machines (one
// machine lost never stops a shard mid-move: targeted.ts). Then the usual end: everything heals, the shard table must settle (3 voters per shard, no
// learner, no move in flight), nothing acknowledged is lost, the replicas converge, the history is
// linearizable, and every safety check held after every event. Each case runs 3 seeds, each aimed
// at another of the 3 moves (so the roles fall on other machines), with short and long faults; and
// each must show that its fault struck the aimed role at the aimed step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRealSeed } from './run.ts';
import { MOVE_ROLES, MOVE_STEPS, type RepairKind, type TargetedFault } from './targeted.ts';

const SEEDS: readonly number[] = [1, 2, 3];
/** n4 joins in the first third of it; the fault phase goes on until the aimed fault is repaired. */
const FAULT_MS = 6_000;
/** The replicas the rebalancer moves to n4 (4 shards × R = 3 over 4 machines). */
const MOVES_TO_N4 = 3;
/**
 * Without the damaged WAL after the end checks (corruption.ts: a test of the WAL's recovery, not of
 * the moves; the batch tests run it), to keep the test's time down.
 */
const RUN = { nodes: 4, faultMs: FAULT_MS, moreDiskFaults: false } as const;

const CASES: readonly TargetedFault[] = [
  ...MOVE_STEPS.flatMap((step) => MOVE_ROLES.map((role) => ({ step, role, fault: 'crash' as const }))),
  // The target cut off while it catches up; the source, and separately the shard's leader (alone: a
  // minority of the 4), cut off while the shard enters or leaves joint consensus.
  { step: 'catchUp', role: 'target', fault: 'isolate' },
  { step: 'reconfigure', role: 'source', fault: 'isolate' },
  { step: 'leaveJoint', role: 'source', fault: 'isolate' },
  { step: 'reconfigure', role: 'shardLeader', fault: 'isolate' },
  { step: 'leaveJoint', role: 'shardLeader', fault: 'isolate' },
];

CASES.forEach((c, caseIndex) => {
  test(`${c.fault} of the ${c.role} when a move reaches ${c.step}`, async () => {
    for (const [i, seed] of SEEDS.entries()) {
      // Each seed aims at another move; short and long faults alternate over seeds and cases.
      const repair: RepairKind = (caseIndex + i) % 2 === 0 ? 'short' : 'long';
      const aim: TargetedFault = { ...c, nth: i + 1, repair };
      const r = await runRealSeed(seed, { ...RUN, targeted: aim });
      const replay = `replay: runRealSeed(${seed}, { nodes: 4, faultMs: ${FAULT_MS}, moreDiskFaults: false, targeted: ${JSON.stringify(aim)}, trace: true })`;
      assert.deepEqual(
        r.violations.map((v) => `${v.property}: ${v.detail}`),
        [],
        replay,
      );
      const hit = r.aimedHit;
      assert.ok(hit !== undefined, `no move reached ${c.step} with a ${c.role} to hit; ${replay}`);
      assert.equal(hit.step, c.step, replay);
      assert.equal(hit.fault, c.fault, replay);
      assert.equal(hit.nth, i + 1, replay);
      assert.equal(hit.repair, repair, replay);
      assert.ok(hit.roles.includes(c.role), `${hit.machine} was hit as ${hit.roles.join(', ')}; ${replay}`);
      if (c.fault === 'crash')
        assert.ok(r.stats.restartsChecked >= 1, `no restart after the crash was checked; ${replay}`);
      assert.ok(r.stats.moves >= MOVES_TO_N4, `${r.stats.moves} moves; ${replay}`);
      assert.ok(r.stats.opsCompleted > 20, `${r.stats.opsCompleted} operations completed; ${replay}`);
    }
  });
});

test('an aimed run is a function of its seed and its aim', async () => {
  const aim: TargetedFault = { step: 'leaveJoint', role: 'source', fault: 'crash', nth: 2 };
  const first = await runRealSeed(7, { ...RUN, targeted: aim });
  const again = await runRealSeed(7, { ...RUN, targeted: aim });
  assert.ok(first.aimedHit !== undefined);
  assert.equal(again.traceHash, first.traceHash);
  assert.deepEqual(again.aimedHit, first.aimedHit);
  assert.deepEqual(again.stats, first.stats);
});
