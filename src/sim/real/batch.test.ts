// A batch of seeds of the real node under crashes (some tearing disk writes in flight), restarts,
// pauses, EIO on WAL writes, the other disk faults (latency spikes, ENOSPC and EIO on WAL writes,
// syncs and snapshots, a full disk), partitions and a network that loses (up to 30 %) and reorders
// messages, a WAL damaged during the faults in some seeds: every safety check after every event,
// liveness and convergence after healing, nothing acknowledged lost, a damaged WAL refused, the
// history linearizable. The faults must have happened for the batch to mean anything.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DISK_FAULT_KINDS, type DiskFaultKind } from './nemesis.ts';
import { runRealSeed } from './run.ts';

const SEEDS = 24;

test(`${SEEDS} seeds of the real node pass every check`, async () => {
  let crashes = 0;
  let crashesMidWrite = 0;
  let pauses = 0;
  let diskFaults = 0;
  let restartsChecked = 0;
  let partitions = 0;
  let completed = 0;
  let linearizable = 0;
  let walCorrupted = 0;
  let propsInRaft = 0;
  let readIndexInRaft = 0;
  let walDamagedUnderFaults = 0;
  let lossOver15Pct = 0;
  let reordered = 0;
  let leaderTransfers = 0;
  const seedsWith = new Map<DiskFaultKind, number>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await runRealSeed(seed);
    assert.deepEqual(
      r.violations.map((v) => `${v.property}: ${v.detail}`),
      [],
      `seed ${seed}; replay: npx ringkv sim --nodes 3 --seeds 1 --start ${seed} --trace`,
    );
    crashes += r.stats.crashes;
    crashesMidWrite += r.stats.crashesMidWrite;
    pauses += r.stats.pauses;
    diskFaults += r.stats.diskFaults;
    restartsChecked += r.stats.restartsChecked;
    partitions += r.stats.partitions;
    completed += r.stats.opsCompleted;
    if (r.stats.lincheck === 'linearizable') linearizable++;
    if (r.stats.walCorrupted) walCorrupted++;
    propsInRaft += r.stats.propsInRaft;
    readIndexInRaft += r.stats.readIndexInRaft;
    if (r.stats.walDamagesUnderFaults > 0) walDamagedUnderFaults++;
    if (r.stats.lossRateMax > 0.15) lossOver15Pct++;
    if (r.stats.messagesReordered > 0) reordered++;
    leaderTransfers += r.stats.leaderTransfers;
    for (const k of DISK_FAULT_KINDS)
      if (r.stats.moreDiskFaults[k] > 0) seedsWith.set(k, (seedsWith.get(k) ?? 0) + 1);
  }
  assert.ok(crashes >= SEEDS, `${crashes} crashes in ${SEEDS} seeds`);
  assert.ok(crashesMidWrite >= SEEDS / 2, `${crashesMidWrite} crashes with disk writes in flight`);
  assert.ok(pauses >= SEEDS / 2, `${pauses} pauses`);
  assert.ok(diskFaults >= SEEDS / 4, `${diskFaults} disk faults`);
  assert.ok(restartsChecked >= SEEDS, `${restartsChecked} restarts checked`);
  assert.ok(partitions >= SEEDS / 2, `${partitions} partitions`);
  assert.ok(leaderTransfers >= SEEDS, `${leaderTransfers} leadership transfers asked`);
  assert.ok(completed >= SEEDS * 50, `${completed} operations completed`);
  // Requests served by followers: their proposals and read indexes went to the leader in Raft.
  assert.ok(propsInRaft >= SEEDS * 10, `${propsInRaft} proposals handed to a leader by a follower`);
  assert.ok(readIndexInRaft >= SEEDS * 10, `${readIndexInRaft} ReadIndex requests handed to a leader`);
  for (const k of DISK_FAULT_KINDS)
    assert.ok((seedsWith.get(k) ?? 0) >= SEEDS / 4, `${k} in ${seedsWith.get(k) ?? 0} of ${SEEDS} seeds`);
  assert.ok(walCorrupted >= SEEDS / 2, `a damaged WAL refused in ${walCorrupted} of ${SEEDS} seeds`);
  assert.ok(
    walDamagedUnderFaults >= SEEDS / 6,
    `a WAL damaged during the faults in ${walDamagedUnderFaults} of ${SEEDS} seeds`,
  );
  assert.ok(lossOver15Pct >= SEEDS / 6, `loss above 15 % in ${lossOver15Pct} of ${SEEDS} seeds`);
  assert.ok(reordered >= SEEDS / 4, `messages out of order in ${reordered} of ${SEEDS} seeds`);
  assert.ok(linearizable >= SEEDS - 2, `${linearizable} of ${SEEDS} histories checked to the end`);
});
