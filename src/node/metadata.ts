// The state machine of the metadata group (METADATA_GROUP in ids.ts): the cluster's identity, its shard count, its
// leader placement policy and its member list with each member's advertised addresses. Commands and
// snapshots are small JSON documents: the metadata changes rarely, and readable bytes make the log
// easy to inspect.
import type { Index } from '../raft/types.ts';
import type { ApplyOutcome, StateMachine } from './state-machine.ts';

export interface MemberInfo {
  readonly nodeId: string;
  readonly clientAddr: string;
  readonly raftAddr: string;
}

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
    }
  | { readonly op: 'addMember'; readonly member: MemberInfo }
  | { readonly op: 'removeMember'; readonly nodeId: string }
  /** A member restarted with other advertised addresses (checked by asking it at the new ones). */
  | { readonly op: 'updateMember'; readonly member: MemberInfo }
  | { readonly op: 'setLeaderPlacement'; readonly placement: LeaderPlacement }
);

const OPS: readonly MetadataCommand['op'][] = [
  'init',
  'addMember',
  'removeMember',
  'updateMember',
  'setLeaderPlacement',
];

export interface MetadataSnapshot {
  readonly clusterId: string;
  readonly shardCount: number;
  readonly members: readonly MemberInfo[];
  /** Absent in snapshots written before placements existed: 'spread'. */
  readonly leaderPlacement?: LeaderPlacement;
}

export type MetadataResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const MEMBERS_MAX = 1000;
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
  shardCount = 0;
  leaderPlacement: LeaderPlacement = DEFAULT_LEADER_PLACEMENT;
  /** Invariant: node ids are unique (the map key is the id). */
  private readonly byId = new Map<string, MemberInfo>();
  /** Called after every applied change and restore (the node updates peer addresses). */
  onChange: () => void = () => {};

  apply(_index: Index, data: Uint8Array): ApplyOutcome<MetadataResult> {
    const c = decodeMetadataCommand(data);
    const result = this.applyCommand(c);
    this.onChange();
    return { requestId: c.requestId, result };
  }

  members(): MemberInfo[] {
    return [...this.byId.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  member(id: string): MemberInfo | undefined {
    return this.byId.get(id);
  }

  /** Applies a committed command. Refusals (duplicates with other addresses) are results, not errors. */
  applyCommand(c: MetadataCommand): MetadataResult {
    switch (c.op) {
      case 'init':
        if (this.clusterId !== '')
          return { ok: false, reason: `cluster ${this.clusterId} is already initialised` };
        this.clusterId = c.clusterId;
        this.shardCount = c.shardCount;
        this.leaderPlacement = c.leaderPlacement ?? DEFAULT_LEADER_PLACEMENT;
        this.byId.set(c.member.nodeId, c.member);
        return { ok: true };
      case 'addMember': {
        const held = this.byId.get(c.member.nodeId);
        if (held !== undefined && !sameAddresses(held, c.member)) {
          return { ok: false, reason: `node id ${c.member.nodeId} belongs to a member at ${describe(held)}` };
        }
        if (held === undefined && this.byId.size >= MEMBERS_MAX) {
          return { ok: false, reason: `the cluster already has ${MEMBERS_MAX} members` };
        }
        this.byId.set(c.member.nodeId, c.member);
        return { ok: true };
      }
      case 'removeMember':
        this.byId.delete(c.nodeId);
        return { ok: true };
      case 'updateMember':
        if (!this.byId.has(c.member.nodeId))
          return { ok: false, reason: `node id ${c.member.nodeId} is not a member` };
        this.byId.set(c.member.nodeId, c.member);
        return { ok: true };
      case 'setLeaderPlacement':
        // Checked again here: the command is in the log, and a bad value must not stop every node.
        if (!isLeaderPlacement(c.placement))
          return { ok: false, reason: `unknown leader placement '${String(c.placement)}'` };
        this.leaderPlacement = c.placement;
        return { ok: true };
    }
  }

  snapshot(): Uint8Array {
    const s: MetadataSnapshot = {
      clusterId: this.clusterId,
      shardCount: this.shardCount,
      members: this.members(),
      leaderPlacement: this.leaderPlacement,
    };
    return encoder.encode(JSON.stringify(s));
  }

  restore(data: Uint8Array): void {
    this.byId.clear();
    this.clusterId = '';
    this.shardCount = 0;
    this.leaderPlacement = DEFAULT_LEADER_PLACEMENT;
    if (data.byteLength === 0) return;
    const s = JSON.parse(decoder.decode(data)) as MetadataSnapshot;
    this.clusterId = s.clusterId;
    this.shardCount = s.shardCount;
    if (isLeaderPlacement(s.leaderPlacement)) this.leaderPlacement = s.leaderPlacement;
    for (const m of s.members) this.byId.set(m.nodeId, m);
    this.onChange();
  }
}

export function sameAddresses(a: MemberInfo, b: MemberInfo): boolean {
  return a.clientAddr === b.clientAddr && a.raftAddr === b.raftAddr;
}

export function describe(m: MemberInfo): string {
  return `client ${m.clientAddr}, raft ${m.raftAddr}`;
}
