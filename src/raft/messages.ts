// Helpers over Message and Entry values: zero-valued construction, classification, and the size
// estimate used by every byte bound in the core.

import type { Entry, Message, MessageType, NodeId } from './types.ts';
import { index, term } from './types.ts';

/** A Message whose fields the core fills in before handing it out. */
export type MutableMessage = { -readonly [K in keyof Message]: Message[K] };

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);
const NO_ENTRIES: readonly Entry[] = [];

/** Fixed per-entry overhead counted by byte bounds, so that empty entries are not free. */
export const ENTRY_OVERHEAD_BYTES = 16;

/** The size an entry counts for in message, in-flight and Ready bounds. */
export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Sum of payload bytes only (the uncommitted-proposal bound counts payloads, like etcd). */
export function payloadBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const e of entries) total += e.data.byteLength;
  return total;
}

export function entriesSizeBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const e of entries) total += entrySizeBytes(e);
  return total;
}

/** A message with every field not given set to its zero value. */
export function emptyMessage(partial: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message {
  const m: MutableMessage = {
    type: partial.type,
    from: partial.from,
    to: partial.to,
    term: partial.term ?? term(0),
    logTerm: partial.logTerm ?? term(0),
    index: partial.index ?? index(0),
    entries: partial.entries ?? NO_ENTRIES,
    commit: partial.commit ?? index(0),
    reject: partial.reject ?? false,
    rejectHint: partial.rejectHint ?? index(0),
    hintTerm: partial.hintTerm ?? term(0),
    context: partial.context ?? EMPTY_BYTES,
  };
  if (partial.snapshot !== undefined) m.snapshot = partial.snapshot;
  return m;
}

/** Local inputs: produced by the node itself, never accepted from the network. */
export function isLocalMessage(t: MessageType): boolean {
  return t === 'hup' || t === 'beat' || t === 'checkQuorum' || t === 'unreachable' || t === 'snapStatus';
}

/** Responses, which only make sense from a peer the node tracks. */
export function isResponseMessage(t: MessageType): boolean {
  return (
    t === 'appResp' ||
    t === 'voteResp' ||
    t === 'heartbeatResp' ||
    t === 'preVoteResp' ||
    t === 'unreachable' ||
    t === 'snapStatus'
  );
}

export function voteResponseType(t: MessageType): MessageType {
  if (t === 'vote') return 'voteResp';
  if (t === 'preVote') return 'preVoteResp';
  throw new Error(`raft invariant violated: not a vote message type: ${t}`);
}

/** Byte strings compared by value (read contexts, transfer marker). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A string key for a byte string, used to index pending reads by context. */
export function bytesKey(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.byteLength; i++) s += String.fromCharCode(b[i] ?? 0);
  return s;
}

/** Deterministic order for visiting peers. */
export function compareNodeIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortedIds(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort(compareNodeIds);
}
