// The state machine of the metadata group (METADATA_GROUP in ids.ts): the cluster's identity, its
// leader placement policy, and the shard table (src/ring/shard-table.ts): the settings (shard count,
// replication factor R, dead-node timeout, moves in flight), the members with their state, zone and
// advertised addresses, and every shard's voters, learners, move in flight and epoch. The table is
// the one source of truth for members and placement: the member list is read from it. Every command
// that changes the table is one `apply(table, op)` numbered by the command's log index (a replayed
// entry changes nothing); an operation the table refuses is a result (`ok: false`), the same on
// every node, never a crash. Commands and snapshots are small JSON documents: the metadata changes
// rarely, and readable bytes make the log easy to inspect.
import type { Index } from '../raft/types.ts';
import { ShardTableError } from '../ring/errors.ts';
import { REPLICATION_FACTOR_MAX } from '../ring/placement.ts';
import {
  apply as applyTableOp,
  assertValid,
  type ClusterSettings,
  DEAD_NODE_TIMEOUT_MS_DEFAULT,
  EMPTY_TABLE,
  type MemberState,
  MOVES_IN_FLIGHT_DEFAULT,
  type ShardTable,
  type TableOp,
} from '../ring/shard-table.ts';
import type { CommandApplied, StateMachine } from './state-machine.ts';

export interface MemberInfo {
  readonly nodeId: string;
  readonly clientAddr: string;
  readonly raftAddr: string;
  /** Failure domain (`serve --zone`); absent or '' for none. Fixed when the member joins. */
  readonly zone?: string;
}

/** Voters per shard of a new cluster unless `serve --replication_factor` says otherwise. */
export const DEFAULT_REPLICATION_FACTOR = 3;

type TableOpBody = TableOp extends infer T ? (T extends unknown ? Omit<T, 'n'> : never) : never;
/** The table operations proposed as they are (members are added and readdressed by their own commands). */
export type TableChange = Exclude<TableOpBody, { kind: 'init' | 'addMember' | 'setMemberAddresses' }>;
const TABLE_CHANGES: readonly TableChange['kind'][] = [
  'setMemberState',
  'setSettings',
  'beginMove',
  'moveStepDone',
  'abortMove',
  'finishMove',
  'setShardVoters',
];

/**
 * Where the data shards' leaders go (balancer.ts): 'spread' evens them out over the members, so
 * that every machine serves its share of the requests; 'pack' puts them all on the metadata
 * group's leader, one leader per cluster as in etcd, so that one WAL write and one batch per peer
 * carry every shard's writes (less CPU per operation when the members share a machine's cores).
 */
export type LeaderPlacement = 'spread' | 'pack';
export const LEADER_PLACEMENTS: readonly LeaderPlacement[] = ['spread', 'pack'];
export const DEFAULT_LEADER_PLACEMENT: LeaderPlacement = 'spread';

export function isLeaderPlacement(v: unknown): v is LeaderPlacement {
  return typeof v === 'string' && (LEADER_PLACEMENTS as readonly string[]).includes(v);
}

export type MetadataCommand = { readonly requestId: string } & (
  | {
      readonly op: 'init';
      readonly clusterId: string;
      readonly shardCount: number;
      readonly member: MemberInfo;
      /** Absent in logs written before placements existed: 'spread'. */
      readonly leaderPlacement?: LeaderPlacement;
      /** Absent in logs written before the shard table: DEFAULT_REPLICATION_FACTOR. */
      readonly replicationFactor?: number;
      /** Absent in logs written before it could be chosen: DEAD_NODE_TIMEOUT_MS_DEFAULT. */
      readonly deadNodeTimeoutMs?: number;
      /** Keys hash by their `{tag}` (src/ring/slots.ts); absent in logs written before hash tags: false. */
      readonly hashTags?: boolean;
    }
  /** A new member, 'joining' until it is admitted ('up', by a `table` setMemberState). */
  | { readonly op: 'addMember'; readonly member: MemberInfo }
  /** The member is gone for good: its id is never reused. Refused while it holds a replica. */
  | { readonly op: 'removeMember'; readonly nodeId: string }
  /** A member restarted with other advertised addresses (checked by asking it at the new ones). */
  | { readonly op: 'updateMember'; readonly member: MemberInfo }
  | { readonly op: 'setLeaderPlacement'; readonly placement: LeaderPlacement }
  /** Any other change of the shard table (member states, settings, the steps of moves). */
  | { readonly op: 'table'; readonly change: TableChange }
);

const OPS: readonly MetadataCommand['op'][] = [
  'init',
  'addMember',
  'removeMember',
  'updateMember',
  'setLeaderPlacement',
  'table',
];

export interface MetadataSnapshot {
  readonly clusterId: string;
  /** Absent in snapshots written before placements existed: 'spread'. */
  readonly leaderPlacement?: LeaderPlacement;
  /** Absent in snapshots written before the shard table: rebuilt from shardCount and members. */
  readonly table?: ShardTable;
  /** Only in snapshots written before the shard table (the table holds both now). */
  readonly shardCount?: number;
  readonly members?: readonly MemberInfo[];
}

export type MetadataResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeMetadataCommand(c: MetadataCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeMetadataCommand(data: Uint8Array): MetadataCommand {
  const v = JSON.parse(decoder.decode(data)) as MetadataCommand;
  if (v === null || typeof v !== 'object' || !OPS.includes(v.op)) {
    throw new Error(`metadata: cannot decode command ${decoder.decode(data)}`);
  }
  return v;
}

export class MetadataState implements StateMachine<MetadataResult> {
  clusterId = '';
  leaderPlacement: LeaderPlacement = DEFAULT_LEADER_PLACEMENT;
  /** Invariant: valid (assertValid) and changed only by applied commands and restore. */
  private shardTable: ShardTable = EMPTY_TABLE;
  /**
   * The table's members that are not removed, by id, as MemberInfo (rebuilt on every change: the
   * request path looks leaders' addresses up here). Invariant: exactly those of `shardTable`.
   */
  private byId = new Map<string, MemberInfo>();
  /** Called after every applied change and restore (the node updates peer addresses and hosted groups). */
  onChange: () => void = () => {};

  /** The shard table as of the last applied command. */
  get table(): ShardTable {
    return this.shardTable;
  }

  get shardCount(): number {
    return this.shardTable.settings.shardCount;
  }

  get replicationFactor(): number {
    return this.shardTable.settings.replicationFactor;
  }

  apply(index: Index, data: Uint8Array): CommandApplied<MetadataResult> {
    const c = decodeMetadataCommand(data);
    const result = this.applyCommand(c, index);
    this.onChange();
    return { requestId: c.requestId, result };
  }

  /** The members that are not removed, sorted by id. */
  members(): MemberInfo[] {
    return [...this.byId.values()];
  }

  member(id: string): MemberInfo | undefined {
    return this.byId.get(id);
  }

  /** A member's state in the table (removed ones included); undefined for no member. */
  memberState(id: string): MemberState | undefined {
    return this.shardTable.members.find((m) => m.nodeId === id)?.state;
  }

  /**
   * Applies a committed command, its table operation numbered `n` (the entry's index). Refusals (a
   * duplicate with other addresses, an operation the table refuses) are results, not errors.
   */
  applyCommand(c: MetadataCommand, n: number): MetadataResult {
    switch (c.op) {
      case 'init': {
        if (this.clusterId !== '')
          return { ok: false, reason: `cluster ${this.clusterId} is already initialised` };
        const settings: ClusterSettings = {
          shardCount: c.shardCount,
          replicationFactor: c.replicationFactor ?? DEFAULT_REPLICATION_FACTOR,
          deadNodeTimeoutMs: c.deadNodeTimeoutMs ?? DEAD_NODE_TIMEOUT_MS_DEFAULT,
          movesInFlightMax: MOVES_IN_FLIGHT_DEFAULT,
          ...(c.hashTags === true ? { hashTags: true } : {}),
        };
        const result = this.change({ kind: 'init', n, settings, members: [address(c.member)] });
        if (!result.ok) return result;
        this.clusterId = c.clusterId;
        this.leaderPlacement = c.leaderPlacement ?? DEFAULT_LEADER_PLACEMENT;
        return result;
      }
      case 'addMember': {
        const held = this.byId.get(c.member.nodeId);
        if (held !== undefined && !sameAddresses(held, c.member)) {
          return { ok: false, reason: `node id ${c.member.nodeId} belongs to a member at ${describe(held)}` };
        }
        if (held !== undefined) return { ok: true };
        return this.change({ kind: 'addMember', n, member: address(c.member) });
      }
      case 'removeMember':
        return this.change({ kind: 'setMemberState', n, nodeId: c.nodeId, state: 'removed' });
      case 'updateMember': {
        const { nodeId, clientAddr, raftAddr } = c.member;
        if (!this.byId.has(nodeId)) return { ok: false, reason: `node id ${nodeId} is not a member` };
        return this.change({ kind: 'setMemberAddresses', n, nodeId, clientAddr, raftAddr });
      }
      case 'setLeaderPlacement':
        // Checked again here: the command is in the log, and a bad value must not stop every node.
        if (!isLeaderPlacement(c.placement))
          return { ok: false, reason: `unknown leader placement '${String(c.placement)}'` };
        this.leaderPlacement = c.placement;
        return { ok: true };
      case 'table':
        if (!TABLE_CHANGES.includes(c.change?.kind))
          return { ok: false, reason: `unknown table change '${String(c.change?.kind)}'` };
        return this.change({ ...c.change, n } as TableOp);
    }
  }

  /** One table operation: the next table, or the refusal as a result. */
  private change(op: TableOp): MetadataResult {
    try {
      this.setTable(applyTableOp(this.shardTable, op));
      return { ok: true };
    } catch (e) {
      if (e instanceof ShardTableError) return { ok: false, reason: e.message };
      throw e;
    }
  }

  private setTable(t: ShardTable): void {
    this.shardTable = t;
    this.byId = new Map(
      t.members
        .filter((m) => m.state !== 'removed')
        .map((m) => [m.nodeId, memberInfo(m.nodeId, m.clientAddr, m.raftAddr, m.zone)]),
    );
  }

  snapshot(): Uint8Array {
    const s: MetadataSnapshot = {
      clusterId: this.clusterId,
      leaderPlacement: this.leaderPlacement,
      table: this.shardTable,
    };
    return encoder.encode(JSON.stringify(s));
  }

  restore(data: Uint8Array): void {
    this.clusterId = '';
    this.leaderPlacement = DEFAULT_LEADER_PLACEMENT;
    this.setTable(EMPTY_TABLE);
    if (data.byteLength === 0) return;
    const s = JSON.parse(decoder.decode(data)) as MetadataSnapshot;
    this.clusterId = s.clusterId;
    if (isLeaderPlacement(s.leaderPlacement)) this.leaderPlacement = s.leaderPlacement;
    const table = s.table ?? tableBeforeShardTable(s.shardCount ?? 0, s.members ?? []);
    assertValid(table);
    this.setTable(table);
    this.onChange();
  }
}

/**
 * A snapshot written before the shard table: every member up and a voter of every shard (what every
 * cluster was then; at most REPLICATION_FACTOR_MAX of them). Numbered from 1 and then reset to
 * lastOp 0, so that every entry after the snapshot applies.
 */
function tableBeforeShardTable(shardCount: number, members: readonly MemberInfo[]): ShardTable {
  if (shardCount === 0 || members.length === 0) return EMPTY_TABLE;
  const settings: ClusterSettings = {
    shardCount,
    replicationFactor: DEFAULT_REPLICATION_FACTOR,
    deadNodeTimeoutMs: DEAD_NODE_TIMEOUT_MS_DEFAULT,
    movesInFlightMax: MOVES_IN_FLIGHT_DEFAULT,
  };
  let t = applyTableOp(EMPTY_TABLE, { kind: 'init', n: 1, settings, members: members.map(address) });
  const voters = members.map((m) => m.nodeId).slice(0, REPLICATION_FACTOR_MAX);
  for (let shard = 1; shard <= shardCount; shard++) {
    t = applyTableOp(t, { kind: 'setShardVoters', n: t.lastOp + 1, shard, voters });
  }
  return { ...t, lastOp: 0 };
}

function address(m: MemberInfo): { nodeId: string; zone: string; clientAddr: string; raftAddr: string } {
  return { nodeId: m.nodeId, zone: m.zone ?? '', clientAddr: m.clientAddr, raftAddr: m.raftAddr };
}

function memberInfo(nodeId: string, clientAddr: string, raftAddr: string, zone: string): MemberInfo {
  return zone === '' ? { nodeId, clientAddr, raftAddr } : { nodeId, clientAddr, raftAddr, zone };
}

export function sameAddresses(a: MemberInfo, b: MemberInfo): boolean {
  return a.clientAddr === b.clientAddr && a.raftAddr === b.raftAddr;
}

export function describe(m: MemberInfo): string {
  return `client ${m.clientAddr}, raft ${m.raftAddr}`;
}
