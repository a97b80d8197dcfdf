// Seeds that found bugs, each a run that failed before its fix (the fix's own test is beside the
// code it fixed). Cheap: a seed each. They replay the schedules that found the bugs only while the
// seeds' draws stay as they are (the joiners' windows in run.ts among them); those of 5 nodes were
// found before a member left in those runs (leave: false); the schedules predate the disk faults
// beyond EIO on a WAL write (moreDiskFaults: false) and appends cut to one entry (oneEntryAppends:
// false) unless the entry says it was found with them, and every one predates the network faults
// beyond the first (moreNetworkFaults: false: loss up to 15 %, no reordering) and the WAL damaged
// during the faults (walDamageUnderFaults: false) unless the entry says it was found with them, and
// every one predates the seeds that start every machine at once (joinTogether: false) unless it says
// it was found so, and every one predates the nemesis's leadership transfers (leaderTransfers: false)
// unless it says it was found with them, and applied entries let go from memory (entriesReadBack:
// false) unless it says it was found with them or with the seed's own draw of them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRealSeed } from './run.ts';

const FOUND: readonly {
  nodes: number;
  seed: number;
  what: string;
  leave?: false;
  /** Found with the disk faults beyond EIO on a WAL write (the others were found before them). */
  moreDiskFaults?: true;
  /** Found when each seed drew whether its appends carry one entry (the others: before that draw). */
  drawnAppends?: true;
  /** Found with network loss to 30 %, reordering and a WAL damaged during the faults. */
  newFaults?: true;
  /** Found with every machine started at once (the others: with the joiners one by one). */
  joinTogether?: true;
  /** Found with the nemesis's leadership transfers. */
  leaderTransfers?: true;
  /**
   * Found with applied entries let go from memory and read back from the WAL (entriesReadBack);
   * 'drawn': found when each seed drew whether it lets them go, as `ringkv sim` runs it.
   */
  entriesReadBack?: true | 'drawn';
}[] = [
  {
    nodes: 4,
    seed: 5,
    what: "a move's source restarted after applying its removal kept the shard (src/node/hosting.ts)",
  },
  {
    nodes: 4,
    seed: 9,
    what: "a move's source cut off before its removal reached it kept the shard (src/node/hosting.ts)",
  },
  {
    nodes: 4,
    seed: 7,
    what: 'a joiner restarted after its join hosted every shard empty, for good (node.ts createGroups)',
  },
  {
    nodes: 4,
    seed: 4,
    what: "a Join forwarded by a member that crashed before the answer waited out the joiner's whole join timeout (the simulated call now resets, as TCP does)",
  },
  {
    nodes: 4,
    seed: 43,
    what: "a move's source that applied the cleanup's table entry while more entries were committed never dropped the shard (node.ts: reconciled again on a tick)",
  },
  {
    nodes: 4,
    seed: 67,
    what: 'a node restarted with an older member list never answered the metadata leader it did not know (src/node/peer-lookup.ts)',
  },
  {
    nodes: 4,
    seed: 334,
    what: 'a paused shard leader that lost the leadership while observing a move proposed its change anyway, forwarded to the new leader, which left the shard joint for good (src/node/rebalancer.ts)',
  },
  {
    nodes: 4,
    seed: 553,
    what: "a metadata commit from before a voter joined is durable on a majority of the configuration before, which a restarted leader's incarnation never saw (the simulator's durability check)",
  },
  {
    nodes: 4,
    seed: 201,
    what: "a Join whose metadata leader was cut off mid-admission waits out the attempt's 60 s deadline: the liveness phase waits for joins as long as for the table to settle",
  },
  {
    nodes: 5,
    leave: false,
    seed: 44,
    what: "a leader elected in a joint configuration holds a commit index from before it: durable on the outgoing half (the simulator's durability check)",
  },
  {
    nodes: 5,
    seed: 203587,
    drawnAppends: true,
    what: "a metadata commit durable on the removed member and one other of the four that stay: a majority of the configuration before the removal, with the removed member's copy (the simulator's durability check)",
  },
  {
    nodes: 5,
    leave: false,
    seed: 1,
    what: 'a write waiting on a replica being dropped was failed as retry-safe though it was applied (src/node/hosting.ts replicaDropped)',
  },
  {
    nodes: 4,
    seed: 31,
    moreDiskFaults: true,
    what: "a dropped replica's older snapshot files were deleted before its tombstone's marker was durable: an EIO on the tombstone's write left a marker naming a missing file, and the node could not start (src/node/tombstone.ts)",
  },
  {
    nodes: 5,
    seed: 731,
    moreDiskFaults: true,
    what: 'a metadata commit held by 3 of 5 voters, one of them the member that left next, is held by 2 of the 4 left: every quorum of 4 includes one of them (the durability check asked for a strict majority)',
  },
  {
    nodes: 5,
    seed: 206658,
    drawnAppends: true,
    what: "a move rolled back while its target left the cluster: the learner's removal never happened and the shard kept it for good, never matching its table (src/node/rebalancer.ts removeStrayLearner)",
  },
  {
    nodes: 5,
    seed: 208136,
    drawnAppends: true,
    what: 'the same: a rolled-back learner of a member that left, kept in the shard for good',
  },
  {
    nodes: 5,
    seed: 300081,
    moreDiskFaults: true,
    drawnAppends: true,
    what: 'a join still running on an earlier metadata leader added the member back to the metadata group as a learner after its leave had removed it, for good (src/node/membership.ts stops a join at every step once the member leaves; metadata-voters.ts removes a learner that is no member)',
  },
  {
    nodes: 5,
    seed: 300444,
    moreDiskFaults: true,
    drawnAppends: true,
    what: 'a member removed while cut off never learned it: the metadata leader was a member admitted after its table stopped, which it never asked (src/node/removal.ts follows the leader the others name)',
  },
  {
    nodes: 5,
    seed: 303471,
    moreDiskFaults: true,
    drawnAppends: true,
    what: 'a member removed while still a learner of the metadata group never learned it: a learner never campaigns, so it kept naming the leader it last heard and never asked anyone (src/node/removal.ts asks once no leader was heard within the election timeout)',
  },
  {
    nodes: 5,
    seed: 310915,
    moreDiskFaults: true,
    drawnAppends: true,
    newFaults: true,
    what: 'the nemesis crashed the machine whose WAL it had just damaged, while its new incarnation was starting on it: it neither started nor refused (src/sim/real/nemesis.ts leaves that machine alone)',
  },
  {
    nodes: 4,
    seed: 313336,
    moreDiskFaults: true,
    drawnAppends: true,
    newFaults: true,
    what: "a joiner whose metadata replica held only a snapshot taken before it was added (the leader's later appends lost) took the configuration without it for its own removal and stopped for good (src/node/removal.ts now also wants its table to mark it removed)",
  },
  {
    nodes: 4,
    seed: 20,
    moreDiskFaults: true,
    drawnAppends: true,
    what: "a client's Put at a joiner not yet holding the cluster's metadata (no shard count) was answered INTERNAL, which reads as 'maybe': KVService's handlers now refuse it retry-safe (src/server/routing.ts shardOfKey; found once the clients entered through them)",
  },
  {
    nodes: 4,
    seed: 12,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    what: 'members joining at once: the rebalancer planned a move from a table that did not list a member a join had made a voter of every shard, and the table never listed it there (src/node/rebalancer.ts holds moves while a member joins; membership.ts admits one member at a time)',
  },
  {
    nodes: 4,
    seed: 18,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    what: 'members joining at once: a member up in a shard the table did not give it deleted its replica as stale while the shard counted it a voter, and the shard never settled',
  },
  {
    nodes: 5,
    seed: 13,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    what: 'members joining at once: after healing, a shard whose applied voters (n1,n2,n3,n4, two taken in by joins) were not those of the table had no leader',
  },
  {
    nodes: 5,
    seed: 144,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    what: 'members joining at once left shards of one and two voters; a swap on one of two ({n1,n2} to {n2,x}) stalled for good when n2 was lost (src/ring/rebalance.ts grows a shard first; membership.ts admits one member at a time)',
  },
  {
    nodes: 5,
    seed: 319099,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    what: 'a member restarted with a snapshot taken while a move took it out of a shard (joint, it outgoing) deleted that replica before applying the log that had brought it back: a voter of the outgoing half counted as no longer listed (src/node/hosting.ts; found by the long run from seed 318000)',
  },
  {
    nodes: 5,
    seed: 720091,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    leaderTransfers: true,
    what: 'a replica deleted by a move and hosted again, empty, by the next move voted for a member that had missed both (partitioned, its configuration stale), which then overwrote committed entries (src/node/vote-guard.ts)',
  },
  {
    nodes: 5,
    seed: 790023,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    leaderTransfers: true,
    what: "a former shard leader's rebalancer, resumed on a stale table and configuration, proposed adding the move's target as a learner after it had become a voter; forwarded to the new leader, it demoted the voter, and the shard never matched its table (every configuration change now carries the configuration it was planned against: ConfChange.basis)",
  },
  {
    nodes: 4,
    seed: 810142,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    leaderTransfers: true,
    what: 'a metadata leader the table still had joining marked a member down (its WAL damaged) and demoted it from the metadata voters though no member up could take its place: the set chosen around the leader forgot the voters kept while down (src/node/metadata-voters.ts)',
  },
  {
    nodes: 5,
    seed: 941378,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    what: "a heartbeat sent to a replica before a move deleted it arrived, late, once the next move had brought the shard back empty: its commit (capped by the old replica's acknowledgements) ran past the new log and stopped the node (node.ts drops such a heartbeat)",
  },
  {
    nodes: 4,
    seed: 964785,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    what: 'a member marked down by one metadata leader, then itself the metadata leader, stayed down in the table for good: the leader judges every member but itself (src/node/liveness.ts: it now marks itself up)',
  },
  {
    nodes: 5,
    seed: 943228,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    what: "an admission went on after its node lost the metadata leadership and made the joiner a voter of a shard the new leader's rebalancer was moving it into as a learner: the move fitted no step and waited for good (membership.ts admissionGoesOn stops it)",
  },
  {
    nodes: 4,
    seed: 979428,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    what: "a move's source deleted its copy once the shard's leader had left the joint configuration, and the leader then died for good (a corrupt disk): the one other voter holding the entry had not learned it was committed and needed the source's vote for ever (src/ring/move.ts sourceMayGo)",
  },
  {
    nodes: 5,
    seed: 951754,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    what: 'a node behind on the metadata log deleted, as stale, the replica a move had just given it, on the strength of a metadata ReadIndex round begun before the move (src/node/stale-replicas.ts; its own test there, as this schedule changed with the fix)',
  },
  {
    nodes: 3,
    seed: 893452,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    what: "a node resumed from a pause stepped a leader's append and a later leader's overwrite of it before one Ready, and acknowledged the overwritten entries after persisting the new one (src/raft/raft.ts forgetAcksFrom)",
  },
  {
    nodes: 5,
    seed: 968035,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    what: "a shard's leader committed leaving a joint configuration and died for good (a corrupt WAL) before the new voter heard so; the move's source, which kept its copy and alone knew, held two later entries and refused the new voter's votes, which still needed it (src/raft/raft.ts: a refused vote carries the voter's commit index)",
  },
  {
    nodes: 3,
    seed: 966695,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    entriesReadBack: true,
    what: "a shard's leader let go of entries its latest snapshot covered but had not compacted them: the WAL, which keeps only what no snapshot marker covers, could not read them back, and a follower that needed them waited for ever (src/raft/storage.ts: released entries a snapshot covers are compacted at once)",
  },
  {
    nodes: 5,
    seed: 980002,
    newFaults: true,
    moreDiskFaults: true,
    drawnAppends: true,
    joinTogether: true,
    leaderTransfers: true,
    entriesReadBack: 'drawn',
    what: 'a candidate applied a configuration that removed it, and the votes it then received, tallied among the new voters, made it leader of a group it was no member of (src/raft/membership.ts switchToConfig: it steps down)',
  },
];

for (const f of FOUND) {
  test(`--nodes ${f.nodes} seed ${f.seed}: ${f.what}`, async () => {
    const r = await runRealSeed(f.seed, {
      nodes: f.nodes,
      ...(f.newFaults === true ? {} : { moreNetworkFaults: false, walDamageUnderFaults: false }),
      ...(f.moreDiskFaults === true ? {} : { moreDiskFaults: false }),
      ...(f.drawnAppends === true ? {} : { oneEntryAppends: false }),
      ...(f.leave === false ? { leave: false } : {}),
      ...(f.joinTogether === true ? {} : { joinTogether: false }),
      ...(f.leaderTransfers === true ? {} : { leaderTransfers: false }),
      ...(f.entriesReadBack === 'drawn' ? {} : { entriesReadBack: f.entriesReadBack === true }),
    });
    assert.deepEqual(
      r.violations.map((v) => `${v.property}: ${v.detail}`),
      [],
      `replay: runRealSeed(${f.seed}, { nodes: ${f.nodes}${f.newFaults === true ? '' : ', moreNetworkFaults: false, walDamageUnderFaults: false'}${f.moreDiskFaults === true ? '' : ', moreDiskFaults: false'}${f.drawnAppends === true ? '' : ', oneEntryAppends: false'}${f.leave === false ? ', leave: false' : ''}${f.joinTogether === true ? '' : ', joinTogether: false'}${f.leaderTransfers === true ? '' : ', leaderTransfers: false'}${f.entriesReadBack === 'drawn' ? '' : `, entriesReadBack: ${f.entriesReadBack === true}`} }) with trace: true`,
    );
  });
}
