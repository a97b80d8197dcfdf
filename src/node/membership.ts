// Joining and leaving. A new node calls ClusterService.Join on any member; that member forwards to
// the metadata group's leader (src/server), which runs `admitMember`: record the member in the
// shard table (state joining), then make it a voter of the metadata group (a learner once that has
// METADATA_VOTERS_MAX voters: metadata-voters.ts) and — while the cluster has at most R members, so
// that every member holds every shard — of every data shard
// (concurrently; one change at a time within a group: add it as a learner, wait until it has
// caught up, the leader sending a snapshot when it is far behind, promote it), record the shards'
// new voters in the table, and mark it up. With more than R members the rebalancer (rebalancer.ts)
// moves to it the replicas the ring gives it. Every step looks at the applied configuration first,
// so repeating a Join (a restart, a retry after a timeout) resumes where the last attempt stopped
// and never duplicates anything. `removeMember` marks the member draining, moves the leaving
// node's leaderships away, removes it from every group, records the shards' voters, then marks it
// removed (its id is never reused).
import type { Logger } from 'pino';
import type { ConfBasis, ConfChangeSingle, NodeId } from '../raft/types.ts';
import { type MemberState, replicasOf, type ShardTable } from '../ring/shard-table.ts';
import { type Clock, sleep } from './clock.ts';
import { FailedPreconditionError, NotFoundError, StartupError, UnavailableError } from './errors.ts';
import { type GroupId, METADATA_GROUP } from './ids.ts';
import type { GroupStatus, NodeIntents, ReplicaProgress } from './intents.ts';
import type { MemberInfo, MetadataCommand, MetadataResult, TableChange } from './metadata.ts';
import { describe, encodeMetadataCommand, sameAddresses } from './metadata.ts';
import { METADATA_VOTERS_MAX } from './metadata-voters.ts';
import type { OneAtATime } from './one-at-a-time.ts';
import type { ClusterRpc, PeerStatus } from './options.ts';
import type { RequestIds } from './state-machine.ts';

/** A learner counts as caught up when it is at most this many entries behind the leader. */
const CATCH_UP_SLACK_ENTRIES = 20;
const STEP_POLL_MS = 200;
const JOIN_ATTEMPT_DEADLINE_MS = 60_000;
const JOIN_RETRY_MS = 1000;

/** What joining needs of the node (KvNode implements it). */
export interface JoinerHost {
  /** This node as a member: its id and advertised addresses. */
  readonly self: MemberInfo;
  readonly isClosing: boolean;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  readonly cluster: ClusterRpc;
  /** The join's deadline and the waits between attempts. */
  readonly clock: Pick<Clock, 'nowMs' | 'after'>;
  /** Tells the transport where a member's raft port is. */
  addPeerAddress(m: MemberInfo): void;
}

/** What admitting and removing members needs of the node, on the metadata leader (KvNode implements it). */
export interface MembershipHost
  extends Pick<
    NodeIntents,
    'proposeMetadata' | 'changeMembership' | 'transferLeadership' | 'status' | 'statuses'
  > {
  readonly id: NodeId;
  readonly logger: Pick<Logger, 'info' | 'debug'>;
  readonly cluster: ClusterRpc;
  /** Deadlines (on the scale of the `deadlineMs` handed in) and the waits between polls. */
  readonly clock: Pick<Clock, 'nowMs' | 'after'>;
  readonly requestIds: RequestIds;
  /** The applied member list and shard table. */
  readonly metadata: {
    readonly clusterId: string;
    readonly replicationFactor: number;
    readonly table: ShardTable;
    member(id: string): MemberInfo | undefined;
    members(): readonly MemberInfo[];
    memberState(id: string): MemberState | undefined;
  };
  /** Forgets a member's raft address (it left the cluster). */
  removePeer(id: NodeId): void;
  /** Admissions on this node run one at a time (admitMember). */
  readonly admissions: OneAtATime;
}

/**
 * Joiner side: calls Join on `joinAddr` until it succeeds (retrying while the cluster is unavailable),
 * for at most `joinTimeoutMs`; then StartupError with the last reason. A refusal
 * (FAILED_PRECONDITION) ends it at once.
 */
export async function joinCluster(
  node: JoinerHost,
  joinAddr: string,
  joinTimeoutMs: number,
): Promise<{ clusterId: string; members: MemberInfo[] }> {
  const self = node.self;
  const clock = node.clock;
  const deadlineMs = clock.nowMs() + joinTimeoutMs;
  node.logger.info({ joinAddr, joinTimeoutMs }, 'joining the cluster');
  await learnPeerAddresses(node, joinAddr, deadlineMs, joinTimeoutMs);
  let last = '';
  // Bounded by the deadline: every failure waits JOIN_RETRY_MS; a refusal ends it.
  for (let attempt = 1; clock.nowMs() < deadlineMs; attempt++) {
    if (node.isClosing) throw new UnavailableError('the node is shutting down');
    try {
      return await node.cluster.join(
        joinAddr,
        self,
        Math.min(deadlineMs, clock.nowMs() + JOIN_ATTEMPT_DEADLINE_MS),
      );
    } catch (e) {
      if (e instanceof FailedPreconditionError) throw e;
      last = (e as Error).message;
      node.logger.warn(
        { joinAddr, attempt, err: last },
        'waiting to be admitted by the cluster (its metadata leader adds this node to every group); retrying',
      );
      await sleep(clock, JOIN_RETRY_MS);
    }
  }
  throw joinGaveUp(joinAddr, joinTimeoutMs, last);
}

function joinGaveUp(joinAddr: string, joinTimeoutMs: number, last: string): StartupError {
  return new StartupError(
    `could not join the cluster at ${joinAddr} within ${Math.round(joinTimeoutMs / 1000)} s (--join_timeout)` +
      `${last === '' ? '' : `; last: ${last}`}. Check that --join_addr is the client address (--host:--port) ` +
      'of a running member and that this machine reaches it; then start the node again with the same command line.',
  );
}

/**
 * Before joining: the joiner must reach the members' raft ports to answer the leader (it learns them
 * from the metadata log only once it has caught up), so it takes them from a member's Status.
 */
async function learnPeerAddresses(
  node: JoinerHost,
  joinAddr: string,
  deadlineMs: number,
  joinTimeoutMs: number,
): Promise<void> {
  const clock = node.clock;
  let last = '';
  for (let attempt = 1; !node.isClosing && clock.nowMs() < deadlineMs; attempt++) {
    try {
      const { members } = await node.cluster.status(joinAddr, Math.min(deadlineMs, clock.nowMs() + 5000));
      for (const m of members) node.addPeerAddress(m);
      return;
    } catch (e) {
      last = (e as Error).message;
      node.logger.warn(
        { joinAddr, attempt, err: last },
        `cannot reach the cluster at ${joinAddr} (--join_addr) yet; retrying until --join_timeout`,
      );
      await sleep(clock, JOIN_RETRY_MS);
    }
  }
  if (!node.isClosing) throw joinGaveUp(joinAddr, joinTimeoutMs, last);
}

/** Proposes a metadata command on the metadata group (this node must lead it) and waits for it to apply. */
export async function proposeMetadata(
  node: Pick<NodeIntents, 'proposeMetadata'>,
  cmd: MetadataCommand,
  deadlineMs: number,
): Promise<MetadataResult> {
  const applied = await node.proposeMetadata({
    requestId: cmd.requestId,
    command: encodeMetadataCommand(cmd),
    deadlineMs,
    onTimeout: () => new UnavailableError('the metadata change was not committed before the deadline'),
  });
  return applied.result;
}

/**
 * Metadata leader: records `member` in the shard table and makes it a voter of the metadata group
 * and, while the cluster has at most R members, of every data shard; then marks it up. Idempotent.
 * One admission at a time: members starting together are then admitted as if one after the other,
 * so that the first R of them take every shard (the shards have R voters once they are in) and the
 * others are placed by the rebalancer; admitted at once, each counts the others and none may take
 * the shards, which stay on the first member alone until the rebalancer has grown every one.
 */
export function admitMember(node: MembershipHost, member: MemberInfo, deadlineMs: number): Promise<void> {
  return node.admissions.run(async () => {
    if (node.clock.nowMs() >= deadlineMs) {
      throw new UnavailableError(
        `the admission of ${member.nodeId} waited behind other members' admissions until its deadline; retry the join`,
        { retrySafe: true },
      );
    }
    await admit(node, member, deadlineMs);
  });
}

async function admit(node: MembershipHost, member: MemberInfo, deadlineMs: number): Promise<void> {
  const held = node.metadata.member(member.nodeId);
  if (held !== undefined && !sameAddresses(held, member)) {
    await updateAddresses(node, held, member, deadlineMs);
    return;
  }
  if (held === undefined) {
    if (node.metadata.memberState(member.nodeId) === 'removed') {
      throw new FailedPreconditionError(
        `node id '${member.nodeId}' belonged to a member that was removed; an id is never reused: start the node with another --node_id`,
      );
    }
    refuseBorrowedAddresses(node, member);
    await refuseStranger(node, member, deadlineMs);
    const { seq } = node.requestIds.next();
    const result = await proposeMetadata(
      node,
      { requestId: `join/${member.nodeId}/${seq}`, op: 'addMember', member },
      deadlineMs,
    );
    if (!result.ok) throw new FailedPreconditionError(`cannot add ${member.nodeId}: ${result.reason}`);
    node.logger.info({ member }, 'member added');
  }
  // Every member holds every shard while there are at most R of them (the quickstart's 3 nodes). A
  // member still joining that an earlier attempt took into some shard (the rebalancer places no
  // replica on a joining member) goes on into every one, though others admitted since may have made
  // the members more than R: the table then records it where it is, and the rebalancer takes the
  // shards back to R voters, rather than the member finding itself up in shards the table does not
  // give it, and deleting those replicas as stale while they count it a voter.
  const everywhere =
    node.metadata.members().length <= node.metadata.replicationFactor ||
    (node.metadata.memberState(member.nodeId) === 'joining' && inSomeShard(node, member.nodeId));
  const shards = everywhere ? node.statuses().flatMap((st) => (st.id === METADATA_GROUP ? [] : [st.id])) : [];
  await Promise.all([
    joinMetadata(node, member, deadlineMs),
    ...shards.map((g) => makeVoter(node, g, member, deadlineMs)),
  ]);
  admissionGoesOn(node, member.nodeId);
  if (everywhere) {
    await movesEnded(node, member.nodeId, deadlineMs);
    await recordShardVoters(node, deadlineMs);
  }
  if (node.metadata.memberState(member.nodeId) !== 'up') {
    await changeTable(node, { kind: 'setMemberState', nodeId: member.nodeId, state: 'up' }, deadlineMs);
  }
  node.logger.info(
    { nodeId: member.nodeId, everyShard: everywhere },
    everywhere
      ? 'member promoted to voter in every data shard'
      : 'member up: the rebalancer moves its replicas to it',
  );
}

/** The member is in the applied configuration (a voter of either half, or a learner) of a data shard here. */
function inSomeShard(node: MembershipHost, nodeId: string): boolean {
  const id = nodeId as NodeId;
  return node.statuses().some((st) => {
    const cs = st.confState;
    return (
      st.id !== METADATA_GROUP &&
      (cs.voters.includes(id) || cs.votersOutgoing.includes(id) || cs.learners.includes(id))
    );
  });
}

/**
 * A join stops when a leave of the member began meanwhile (it would add back what the leave
 * removes): checked before each of its membership steps, since a leave may begin at any of them.
 */
function refuseLeaving(node: MembershipHost, nodeId: string): void {
  const state = node.metadata.memberState(nodeId);
  if (state === 'draining' || state === 'removed') {
    throw new FailedPreconditionError(`'${nodeId}' is leaving the cluster (${state}); its join stops`);
  }
}

/**
 * Before each step of an admission: it goes on only while this node leads the metadata group and the
 * member is not leaving. An admission that outlives its node's leadership would go on changing the
 * shards' voters beside the new leader's rebalancer, each undoing the other's changes (a joiner made
 * a voter of a shard the new leader was moving it into as a learner: the move never ended). The
 * joiner retries its join, which reaches the new leader.
 */
function admissionGoesOn(node: MembershipHost, nodeId: string): void {
  if (node.status(METADATA_GROUP)?.role !== 'leader') {
    throw new UnavailableError(
      `this node no longer leads the metadata group; the admission of '${nodeId}' stops (retry the join)`,
      { retrySafe: true },
    );
  }
  refuseLeaving(node, nodeId);
}

/** Proposes one shard-table change and waits for it to apply; a refusal is FailedPreconditionError. */
export async function changeTable(
  node: MembershipHost,
  change: TableChange,
  deadlineMs: number,
): Promise<void> {
  const { seq } = node.requestIds.next();
  const result = await proposeMetadata(
    node,
    { requestId: `table/${change.kind}/${seq}`, op: 'table', change },
    deadlineMs,
  );
  if (!result.ok)
    throw new FailedPreconditionError(`the shard table refused ${change.kind}: ${result.reason}`);
}

/**
 * A join into every shard waits for the table's moves in flight to end before recording the voters:
 * a move begun before the member was added (the rebalancer begins none while a member joins) ends
 * by recording the voters it was planned with, without the member; recorded before it ends, the
 * member's place would be overwritten, and the member, once up, would delete its replica as stale
 * (hosting.ts isStaleReplica) while the shard counts it a voter. Bounded by the join's deadline.
 */
async function movesEnded(node: MembershipHost, nodeId: string, deadlineMs: number): Promise<void> {
  for (;;) {
    const moving = node.metadata.table.shards.filter((s) => s.move !== null).map((s) => s.shardId);
    if (moving.length === 0) return;
    if (node.clock.nowMs() >= deadlineMs) {
      throw new UnavailableError(
        `'${nodeId}' is a voter of every shard, but shard(s) ${moving.join(', ')} still move; retry the join to record it`,
        { retrySafe: true },
      );
    }
    admissionGoesOn(node, nodeId);
    await sleep(node.clock, STEP_POLL_MS);
  }
}

/**
 * After a join or leave that changed every shard at once (at most R members): records in the table
 * the voters each hosted shard applied, where they differ from the table's and no move is in flight.
 */
async function recordShardVoters(node: MembershipHost, deadlineMs: number): Promise<void> {
  const changes: TableChange[] = [];
  for (const entry of node.metadata.table.shards) {
    const cs = node.status(entry.shardId as GroupId)?.confState;
    if (cs === undefined || cs.votersOutgoing.length > 0 || entry.move !== null) continue;
    const voters = [...cs.voters].sort();
    if (voters.length === entry.voters.length && voters.every((v, i) => v === entry.voters[i])) continue;
    changes.push({ kind: 'setShardVoters', shard: entry.shardId, voters });
  }
  await Promise.all(changes.map((c) => changeTable(node, c, deadlineMs)));
}

/**
 * A member asks to join again with other addresses: it restarted with another --port, --raft_port or
 * --host. Accepted when the node answering at the new client address is that member, holding this
 * cluster's data (so not a different node reusing the id); then its record is updated.
 */
async function updateAddresses(
  node: MembershipHost,
  held: MemberInfo,
  member: MemberInfo,
  deadlineMs: number,
): Promise<void> {
  const refusal = new FailedPreconditionError(
    `node id '${member.nodeId}' already belongs to a member at ${describe(held)}; ` +
      `a different node (${describe(member)}) cannot join with it: choose another --node_id, or remove the old member first (ringkv cluster leave ${member.nodeId})`,
  );
  refuseBorrowedAddresses(node, member);
  let answer: PeerStatus;
  try {
    answer = await node.cluster.status(
      member.clientAddr,
      Math.min(deadlineMs, node.clock.nowMs() + JOINER_STATUS_TIMEOUT_MS),
    );
  } catch {
    throw refusal;
  }
  if (answer.nodeId !== member.nodeId || answer.clusterId !== node.metadata.clusterId) throw refusal;
  const { seq } = node.requestIds.next();
  const result = await proposeMetadata(
    node,
    { requestId: `update/${member.nodeId}/${seq}`, op: 'updateMember', member },
    deadlineMs,
  );
  if (!result.ok) throw new FailedPreconditionError(`cannot update ${member.nodeId}: ${result.reason}`);
  node.logger.info(
    { from: describe(held), to: describe(member), nodeId: member.nodeId },
    'member addresses updated',
  );
}

/** A join that names another member's client or raft address would make two members of one node. */
function refuseBorrowedAddresses(node: MembershipHost, member: MemberInfo): void {
  for (const m of node.metadata.members()) {
    if (m.nodeId === member.nodeId) continue;
    const clash =
      m.clientAddr === member.clientAddr
        ? `client address ${m.clientAddr}`
        : m.raftAddr === member.raftAddr
          ? `raft address ${m.raftAddr}`
          : '';
    if (clash !== '') {
      throw new FailedPreconditionError(
        `'${member.nodeId}' asks to join with the ${clash}, which belongs to member '${m.nodeId}' (${describe(m)}): give the new node its own --port and --raft_port (and --host)`,
      );
    }
  }
}

/** How long the leader waits for a joiner's Status before admitting it unchecked. */
const JOINER_STATUS_TIMEOUT_MS = 3_000;

/**
 * The joiner, asked at its client address, must be the node it says it is and hold no data of
 * another cluster (a node bootstrapped on its own, say). A joiner that does not answer (not started
 * yet: `ringkv cluster join` by hand) is admitted unchecked; its transport then refuses this
 * cluster's streams if its data is another cluster's.
 */
async function refuseStranger(node: MembershipHost, member: MemberInfo, deadlineMs: number): Promise<void> {
  let answer: PeerStatus;
  try {
    answer = await node.cluster.status(
      member.clientAddr,
      Math.min(deadlineMs, node.clock.nowMs() + JOINER_STATUS_TIMEOUT_MS),
    );
  } catch (e) {
    node.logger.info(
      { member, err: (e as Error).message },
      'the joiner does not answer Status yet: admitted unchecked',
    );
    return;
  }
  if (answer.nodeId !== member.nodeId) {
    throw new FailedPreconditionError(
      `${member.clientAddr} answers as node '${answer.nodeId}', not '${member.nodeId}': check the join's --addr`,
    );
  }
  const ours = node.metadata.clusterId;
  if (answer.clusterId !== '' && answer.clusterId !== ours) {
    throw new FailedPreconditionError(
      `'${member.nodeId}' at ${member.clientAddr} holds the data of another cluster (${answer.clusterId}, this one is ${ours}); ` +
        'it cannot join: stop it and start it again with an empty --raft_dir and --join_addr',
    );
  }
}

/**
 * The metadata group takes the joiner as a voter while it has fewer than METADATA_VOTERS_MAX, else
 * as a learner (it then receives the table like any member; the rebalancer promotes a learner when
 * a voter goes down, drains or leaves: metadata-voters.ts).
 */
async function joinMetadata(node: MembershipHost, member: MemberInfo, deadlineMs: number): Promise<void> {
  const id = member.nodeId as NodeId;
  // Bounded by the deadline: each pass sleeps STEP_POLL_MS.
  while (node.clock.nowMs() < deadlineMs) {
    admissionGoesOn(node, member.nodeId);
    const cs = statusOf(node, METADATA_GROUP).confState;
    if (cs.voters.includes(id) && cs.votersOutgoing.length === 0) return;
    const room = cs.voters.length < METADATA_VOTERS_MAX;
    if (cs.learners.includes(id)) {
      if (!room) return;
      if (await caughtUp(node, METADATA_GROUP, member, deadlineMs))
        proposeChange(node, METADATA_GROUP, { type: 'addVoter', nodeId: id }, cs);
    } else if (!cs.voters.includes(id)) {
      proposeChange(node, METADATA_GROUP, { type: 'addLearner', nodeId: id }, cs);
    }
    await sleep(node.clock, STEP_POLL_MS);
  }
  throw new UnavailableError(
    `the metadata group did not take ${member.nodeId} in before the deadline; retry the join`,
  );
}

async function makeVoter(
  node: MembershipHost,
  group: GroupId,
  member: MemberInfo,
  deadlineMs: number,
): Promise<void> {
  const id = member.nodeId as NodeId;
  // Bounded by the deadline: each pass sleeps STEP_POLL_MS.
  while (node.clock.nowMs() < deadlineMs) {
    admissionGoesOn(node, member.nodeId);
    const cs = statusOf(node, group).confState;
    if (cs.voters.includes(id) && cs.votersOutgoing.length === 0) return;
    if (cs.learners.includes(id)) {
      if (await caughtUp(node, group, member, deadlineMs))
        proposeChange(node, group, { type: 'addVoter', nodeId: id }, cs);
    } else if (!cs.voters.includes(id)) {
      proposeChange(node, group, { type: 'addLearner', nodeId: id }, cs);
    }
    await sleep(node.clock, STEP_POLL_MS);
  }
  throw new UnavailableError(
    `group ${group}: ${member.nodeId} did not become a voter before the deadline; retry the join`,
  );
}

/** A group this node hosts (a hosted group stays hosted), or UnavailableError. */
function statusOf(node: Pick<NodeIntents, 'status'>, group: GroupId): GroupStatus {
  const st = node.status(group);
  if (st === undefined) {
    throw new UnavailableError(`this node does not host group ${group} yet (it may still be joining)`, {
      retrySafe: true,
    });
  }
  return st;
}

/**
 * A proposal that may be refused (no leader, a change in flight, the configuration no longer
 * `basis`): the caller's loop retries on the configuration as it then is.
 */
function proposeChange(
  node: MembershipHost,
  group: GroupId,
  change: ConfChangeSingle,
  basis: ConfBasis,
): void {
  try {
    node.changeMembership(group, change, basis);
    node.logger.info({ group, change }, 'membership change proposed');
  } catch (e) {
    node.logger.debug({ group, change, err: (e as Error).message }, 'membership change not accepted now');
  }
}

/**
 * Whether a replica's progress, as the group's leader tracks it, is close to the leader's log end
 * (`lastIndex`). 'replicate' means the leader has confirmed where the replica's log matches its own.
 */
export function progressCaughtUp(pr: ReplicaProgress, lastIndex: number): boolean {
  return pr.state === 'replicate' && pr.match > 0 && pr.match + CATCH_UP_SLACK_ENTRIES >= lastIndex;
}

/** Whether the learner is close to the group's log end: from the leader's progress, or by asking it. */
async function caughtUp(
  node: MembershipHost,
  group: GroupId,
  member: MemberInfo,
  deadlineMs: number,
): Promise<boolean> {
  const st = statusOf(node, group);
  const pr = st.progress?.get(member.nodeId as NodeId);
  if (pr !== undefined) return progressCaughtUp(pr, st.lastIndex);
  try {
    const { applied } = await node.cluster.status(
      member.clientAddr,
      Math.min(deadlineMs, node.clock.nowMs() + 2000),
    );
    const at = applied.get(group) ?? 0;
    return at > 0 && at + CATCH_UP_SLACK_ENTRIES >= statusOf(node, group).commit;
  } catch {
    return false;
  }
}

/** Metadata leader: moves the node's leaderships away, removes it from every group, then from the member list. */
export async function removeMember(node: MembershipHost, nodeId: string, deadlineMs: number): Promise<void> {
  if (node.metadata.member(nodeId) === undefined) {
    throw new NotFoundError(`no member has node id '${nodeId}'; see ringkv cluster status for the members`);
  }
  const id = nodeId as NodeId;
  const groups = node.statuses().map((st) => st.id);
  const others = node.metadata.members().filter((m) => m.nodeId !== nodeId);
  if (others.length === 0)
    throw new FailedPreconditionError(
      `'${nodeId}' is the last member; a cluster cannot remove its last node`,
    );
  for (const st of node.statuses()) {
    if (st.confState.voters.length === 1 && st.confState.voters[0] === id) {
      throw new FailedPreconditionError(
        `'${nodeId}' is the only voter of group ${st.id}; removing it would leave the group without a voter: add a node first (serve --join_addr), then leave`,
      );
    }
  }
  const state = node.metadata.memberState(nodeId);
  if (state === 'up' || state === 'down') {
    await changeTable(node, { kind: 'setMemberState', nodeId, state: 'draining' }, deadlineMs);
  }
  await movesToEnded(node, nodeId, deadlineMs);
  if (others.length >= node.metadata.replicationFactor) {
    // Enough members stay for R replicas of every shard: the rebalancer moves the draining member's
    // replicas away, one move at a time per target, each shard keeping R voters throughout.
    await drained(node, nodeId, deadlineMs);
    await removeFromGroup(node, METADATA_GROUP, id, deadlineMs);
    await removeFromTable(node, nodeId, deadlineMs, false);
    return;
  }
  // Data shards first: the metadata group (whose leader runs this) last.
  for (const g of groups.filter((x) => x !== METADATA_GROUP)) await removeFromGroup(node, g, id, deadlineMs);
  await removeFromGroup(node, METADATA_GROUP, id, deadlineMs);
  await removeFromTable(node, nodeId, deadlineMs, true);
}

/**
 * Waits until no move in the table brings a replica to `nodeId` (now draining). The rebalancer begins
 * none towards a member that is not up and rolls back those that have not made it a voter yet; those
 * that have go forward, and the leave then takes that replica away like the others. Removing the
 * member while such a move runs would race it: the move adds back what the leave removed, and the
 * table refuses to mark a member removed while a shard or a move still names it.
 */
async function movesToEnded(node: MembershipHost, nodeId: string, deadlineMs: number): Promise<void> {
  const towards = (): number[] =>
    node.metadata.table.shards.filter((s) => s.move?.target === nodeId).map((s) => s.shardId);
  // Bounded by the deadline: each pass sleeps STEP_POLL_MS.
  while (node.clock.nowMs() < deadlineMs) {
    const shards = towards();
    if (shards.length === 0) return;
    node.logger.debug({ nodeId, shards }, 'waiting for the moves towards the leaving member to end');
    await sleep(node.clock, STEP_POLL_MS);
  }
  throw new UnavailableError(
    `moves towards '${nodeId}' are still in flight on shards ${towards().join(',')} (the rebalancer rolls them back or finishes them); retry the leave to wait longer`,
    { retrySafe: true },
  );
}

/** Waits until the table shows no replica on `nodeId` (the rebalancer moved them all away). */
async function drained(node: MembershipHost, nodeId: string, deadlineMs: number): Promise<void> {
  // Bounded by the deadline: each pass sleeps STEP_POLL_MS.
  while (node.clock.nowMs() < deadlineMs) {
    const held = node.metadata.table.shards.filter((s) => replicasOf(s).includes(nodeId)).length;
    if (held === 0) return;
    node.logger.debug({ nodeId, held }, 'waiting for the draining member to hand its replicas over');
    await sleep(node.clock, STEP_POLL_MS);
  }
  throw new UnavailableError(
    `'${nodeId}' still holds replicas the rebalancer is moving away; retry the leave to wait longer`,
    { retrySafe: true },
  );
}

/** Attempts at marking a member removed: a join still finishing may mark it up meanwhile. */
const REMOVE_ATTEMPTS_MAX = 5;

/**
 * Marks the member removed. `record`: the member left every shard directly (at most R members), so
 * each attempt first records the shards' voters again (a join still finishing may have recorded
 * them with the member after the leave did).
 */
async function removeFromTable(
  node: MembershipHost,
  nodeId: string,
  deadlineMs: number,
  record: boolean,
): Promise<void> {
  const id = nodeId as NodeId;
  let result: MetadataResult = { ok: false, reason: 'not tried' };
  for (let attempt = 1; attempt <= REMOVE_ATTEMPTS_MAX && !result.ok; attempt++) {
    // A join of this member that was still running may have marked it up after the leave began
    // (up → removed is no transition): drain it again first.
    const state = node.metadata.memberState(nodeId);
    if (state === 'up' || state === 'down') {
      await changeTable(node, { kind: 'setMemberState', nodeId, state: 'draining' }, deadlineMs);
    }
    if (record) await recordShardVoters(node, deadlineMs);
    const { seq } = node.requestIds.next();
    result = await proposeMetadata(
      node,
      { requestId: `leave/${nodeId}/${seq}`, op: 'removeMember', nodeId },
      deadlineMs,
    );
  }
  if (!result.ok) throw new FailedPreconditionError(`cannot remove ${nodeId}: ${result.reason}`);
  node.removePeer(id);
  node.logger.info({ nodeId }, 'member removed');
}

async function removeFromGroup(
  node: MembershipHost,
  group: GroupId,
  id: NodeId,
  deadlineMs: number,
): Promise<void> {
  while (node.clock.nowMs() < deadlineMs) {
    const st = statusOf(node, group);
    const cs = st.confState;
    if (!cs.voters.includes(id) && !cs.learners.includes(id) && !cs.votersOutgoing.includes(id)) return;
    if (st.role === 'leader' && st.leader === id) {
      // This node leads and is leaving: hand the group over first, then the new leader removes it.
      const to = cs.voters.find((v) => v !== id);
      if (to !== undefined) node.transferLeadership(group, to);
    } else {
      // When the leaving node leads the group, the core hands leadership over as it applies its removal.
      proposeChange(node, group, { type: 'removeNode', nodeId: id }, cs);
    }
    await sleep(node.clock, STEP_POLL_MS);
  }
  throw new UnavailableError(`group ${group}: could not remove ${id} before the deadline; retry the leave`);
}
