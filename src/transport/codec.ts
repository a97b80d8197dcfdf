// Conversion between the core's Message (src/raft/types.ts) and its protobuf mirror (peer.proto).
// The round trip is exact: messageFromWire(messageToWire(m)) deep-equals m for every valid m. The
// peer stream itself goes straight between Message and bytes (wire-message.ts, which shares the
// tables and checks here and is tested against this); these objects serve the rest.
// Terms, indexes and byte offsets are JS numbers in memory and uint64 (bigint) on the wire; they
// must stay below 2^53 — our own values are asserted (a bug otherwise), a peer's are checked
// (PeerCodecError, the message is dropped).
import {
  type RaftConfState,
  type RaftEntry,
  RaftEntryType,
  type RaftMessage,
  RaftMessageType,
  type RaftSnapshotChunk,
} from '../gen/ringkv/v1/peer.ts';
import type {
  ConfState,
  Entry,
  EntryType,
  Message,
  MessageType,
  NodeId,
  SnapshotChunk,
} from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { PeerCodecError } from './errors.ts';
import { NO_BYTES } from './wire-reader.ts';

/** One to one; a Record so that the compiler refuses a MessageType without a wire value. */
export const WIRE_TYPE: Readonly<Record<MessageType, RaftMessageType>> = {
  hup: RaftMessageType.RAFT_MESSAGE_TYPE_HUP,
  beat: RaftMessageType.RAFT_MESSAGE_TYPE_BEAT,
  checkQuorum: RaftMessageType.RAFT_MESSAGE_TYPE_CHECK_QUORUM,
  unreachable: RaftMessageType.RAFT_MESSAGE_TYPE_UNREACHABLE,
  snapStatus: RaftMessageType.RAFT_MESSAGE_TYPE_SNAP_STATUS,
  prop: RaftMessageType.RAFT_MESSAGE_TYPE_PROP,
  readIndex: RaftMessageType.RAFT_MESSAGE_TYPE_READ_INDEX,
  readIndexResp: RaftMessageType.RAFT_MESSAGE_TYPE_READ_INDEX_RESP,
  transferLeader: RaftMessageType.RAFT_MESSAGE_TYPE_TRANSFER_LEADER,
  app: RaftMessageType.RAFT_MESSAGE_TYPE_APP,
  appResp: RaftMessageType.RAFT_MESSAGE_TYPE_APP_RESP,
  heartbeat: RaftMessageType.RAFT_MESSAGE_TYPE_HEARTBEAT,
  heartbeatResp: RaftMessageType.RAFT_MESSAGE_TYPE_HEARTBEAT_RESP,
  snap: RaftMessageType.RAFT_MESSAGE_TYPE_SNAP,
  vote: RaftMessageType.RAFT_MESSAGE_TYPE_VOTE,
  voteResp: RaftMessageType.RAFT_MESSAGE_TYPE_VOTE_RESP,
  preVote: RaftMessageType.RAFT_MESSAGE_TYPE_PRE_VOTE,
  preVoteResp: RaftMessageType.RAFT_MESSAGE_TYPE_PRE_VOTE_RESP,
  timeoutNow: RaftMessageType.RAFT_MESSAGE_TYPE_TIMEOUT_NOW,
};
export const MESSAGE_TYPE: ReadonlyMap<number, MessageType> = invert(WIRE_TYPE);

export const WIRE_ENTRY_TYPE: Readonly<Record<EntryType, RaftEntryType>> = {
  normal: RaftEntryType.RAFT_ENTRY_TYPE_NORMAL,
  confChange: RaftEntryType.RAFT_ENTRY_TYPE_CONF_CHANGE,
};
export const ENTRY_TYPE: ReadonlyMap<number, EntryType> = invert(WIRE_ENTRY_TYPE);

/** All message types, in declaration order (for tests and generators). */
export const MESSAGE_TYPES: readonly MessageType[] = Object.keys(WIRE_TYPE) as MessageType[];

function invert<K extends string>(table: Readonly<Record<K, number>>): ReadonlyMap<number, K> {
  const inverse = new Map<number, K>();
  for (const [name, wire] of Object.entries(table) as [K, number][]) {
    if (wire <= 0 || inverse.has(wire)) throw new Error(`codec table not one to one at ${name}=${wire}`);
    inverse.set(wire, name);
  }
  return inverse;
}

const U64_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Our own number going out: anything but a non-negative safe integer is a bug in the caller. */
function u64(n: number, field: string): bigint {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`transport codec: ${field} must be a non-negative safe integer, got ${n}`);
  }
  return BigInt(n);
}

/** A peer's number coming in: checked, because the peer may be buggy or of another version. */
function num(b: bigint, field: string): number {
  if (b > U64_SAFE_MAX) throw new PeerCodecError(field, `${b} exceeds 2^53 - 1`);
  return Number(b);
}

export function wellFormed(s: string, field: string): string {
  // A lone surrogate would turn into U+FFFD on the wire: the peer would see another node id.
  if (!s.isWellFormed())
    throw new Error(`transport codec: ${field} is not well-formed UTF-16: ${JSON.stringify(s)}`);
  return s;
}

function ids(list: readonly NodeId[], field: string): string[] {
  return list.map((id, i) => wellFormed(id, `${field}[${i}]`));
}

function confStateToWire(cs: ConfState): RaftConfState {
  return {
    voters: ids(cs.voters, 'voters'),
    votersOutgoing: ids(cs.votersOutgoing, 'votersOutgoing'),
    learners: ids(cs.learners, 'learners'),
    learnersNext: ids(cs.learnersNext, 'learnersNext'),
    autoLeave: cs.autoLeave,
  };
}

export function chunkToWire(c: SnapshotChunk): RaftSnapshotChunk {
  return {
    metadata: {
      index: u64(c.metadata.index, 'snapshot.metadata.index'),
      term: u64(c.metadata.term, 'snapshot.metadata.term'),
      confState: confStateToWire(c.metadata.confState),
    },
    offset: u64(c.offset, 'snapshot.offset'),
    data: c.data,
    totalBytes: u64(c.totalBytes, 'snapshot.totalBytes'),
    done: c.done,
  };
}

function entryToWire(e: Entry): RaftEntry {
  return {
    term: u64(e.term, 'entry.term'),
    index: u64(e.index, 'entry.index'),
    type: WIRE_ENTRY_TYPE[e.type],
    data: e.data,
  };
}

/** Message → wire. Shares the byte arrays of `m` (nothing is copied until encoding). */
export function messageToWire(m: Message): RaftMessage {
  return {
    type: WIRE_TYPE[m.type],
    from: wellFormed(m.from, 'from'),
    to: wellFormed(m.to, 'to'),
    term: u64(m.term, 'term'),
    logTerm: u64(m.logTerm, 'logTerm'),
    index: u64(m.index, 'index'),
    entries: m.entries.map(entryToWire),
    commit: u64(m.commit, 'commit'),
    reject: m.reject,
    rejectHint: u64(m.rejectHint, 'rejectHint'),
    hintTerm: u64(m.hintTerm, 'hintTerm'),
    snapshot: m.snapshot === undefined ? undefined : chunkToWire(m.snapshot),
    context: m.context,
  };
}

/** The entries of every message that carries none (most of them: acknowledgements, heartbeats). */
const NO_ENTRIES: readonly Entry[] = Object.freeze([]);

// Decoded byte fields are views into the whole received frame; copying them detaches them, so a
// small entry kept in the log never pins a multi-megabyte batch buffer in memory. (Not .slice():
// on a Buffer, which is what gRPC hands us, slice() returns a view.)
export function copy(bytes: Uint8Array): Uint8Array {
  return bytes.length === 0 ? NO_BYTES : new Uint8Array(bytes);
}

function confStateFromWire(cs: RaftConfState | undefined): ConfState {
  if (cs === undefined) throw new PeerCodecError('snapshot.metadata.confState', 'missing');
  return {
    voters: cs.voters.map(nodeId),
    votersOutgoing: cs.votersOutgoing.map(nodeId),
    learners: cs.learners.map(nodeId),
    learnersNext: cs.learnersNext.map(nodeId),
    autoLeave: cs.autoLeave,
  };
}

export function chunkFromWire(c: RaftSnapshotChunk): SnapshotChunk {
  const md = c.metadata;
  if (md === undefined) throw new PeerCodecError('snapshot.metadata', 'missing');
  return {
    metadata: {
      index: index(num(md.index, 'snapshot.metadata.index')),
      term: term(num(md.term, 'snapshot.metadata.term')),
      confState: confStateFromWire(md.confState),
    },
    offset: num(c.offset, 'snapshot.offset'),
    data: copy(c.data),
    totalBytes: num(c.totalBytes, 'snapshot.totalBytes'),
    done: c.done,
  };
}

/** An entry as read off the wire, its data a view of the received frame. */
export interface EntryView {
  term: number;
  index: number;
  type: number;
  data: Uint8Array;
}

/**
 * A message's entries, their data copied into one new buffer of their total size (each entry's data
 * a view of its part): detached from the received frame as `copy` is, at one allocation per message
 * instead of one per entry. The entries of one message enter the log together and leave it in index
 * order (compaction takes a prefix of the log), so the shared buffer lives no longer than the last of
 * them, and no entry pins anything but its neighbours of the same message.
 */
export function entriesOf(views: readonly EntryView[]): readonly Entry[] {
  if (views.length === 0) return NO_ENTRIES;
  let totalBytes = 0;
  for (const v of views) totalBytes += v.data.length;
  const buf = new Uint8Array(totalBytes);
  let at = 0;
  return views.map((v, i) => {
    const type = ENTRY_TYPE.get(v.type);
    if (type === undefined) throw new PeerCodecError(`entries[${i}].type`, `unknown entry type ${v.type}`);
    buf.set(v.data, at);
    const data = buf.subarray(at, at + v.data.length);
    at += v.data.length;
    return { term: term(v.term), index: index(v.index), type, data };
  });
}

function entriesFromWire(ents: readonly RaftEntry[]): readonly Entry[] {
  return entriesOf(
    ents.map((e, i) => ({
      term: num(e.term, `entries[${i}].term`),
      index: num(e.index, `entries[${i}].index`),
      type: e.type,
      data: e.data,
    })),
  );
}

/** Wire → Message. Throws PeerCodecError when the peer sent something the core cannot represent. */
export function messageFromWire(w: RaftMessage): Message {
  const type = MESSAGE_TYPE.get(w.type);
  if (type === undefined) throw new PeerCodecError('type', `unknown message type ${w.type}`);
  const m: Message = {
    type,
    from: nodeId(w.from),
    to: nodeId(w.to),
    term: term(num(w.term, 'term')),
    logTerm: term(num(w.logTerm, 'logTerm')),
    index: index(num(w.index, 'index')),
    entries: entriesFromWire(w.entries),
    commit: index(num(w.commit, 'commit')),
    reject: w.reject,
    rejectHint: index(num(w.rejectHint, 'rejectHint')),
    hintTerm: term(num(w.hintTerm, 'hintTerm')),
    context: copy(w.context),
  };
  // exactOptionalPropertyTypes: the key is absent, never present-and-undefined.
  return w.snapshot === undefined ? m : { ...m, snapshot: chunkFromWire(w.snapshot) };
}

// --- size bound -----------------------------------------------------------------------------------

const VARINT_FIELD_BYTES_MAX = 11; // 1-byte tag + 10-byte varint
const LEN_PREFIX_BYTES_MAX = 6; // 1-byte tag + 5-byte length
const ENTRY_OVERHEAD_BYTES_MAX = LEN_PREFIX_BYTES_MAX + 3 * VARINT_FIELD_BYTES_MAX + LEN_PREFIX_BYTES_MAX;

function stringBytesMax(s: string): number {
  return LEN_PREFIX_BYTES_MAX + 3 * s.length; // a UTF-16 unit is at most 3 UTF-8 bytes
}

function idsBytesMax(list: readonly string[]): number {
  let sizeBytes = 0;
  for (const id of list) sizeBytes += stringBytesMax(id);
  return sizeBytes;
}

function chunkBytesMax(c: SnapshotChunk): number {
  const cs = c.metadata.confState;
  const confStateBytes =
    LEN_PREFIX_BYTES_MAX +
    idsBytesMax(cs.voters) +
    idsBytesMax(cs.votersOutgoing) +
    idsBytesMax(cs.learners) +
    idsBytesMax(cs.learnersNext) +
    2;
  const metadataBytes = LEN_PREFIX_BYTES_MAX + 2 * VARINT_FIELD_BYTES_MAX + confStateBytes;
  return (
    LEN_PREFIX_BYTES_MAX +
    metadataBytes +
    2 * VARINT_FIELD_BYTES_MAX +
    LEN_PREFIX_BYTES_MAX +
    c.data.length +
    2
  );
}

/**
 * An upper bound (never an underestimate) of the encoded size of one GroupMessage carrying `m`,
 * cheap enough to compute on every send: the queues are bounded in these bytes.
 */
export function wireSizeBoundBytes(m: Message): number {
  let sizeBytes = 2 * LEN_PREFIX_BYTES_MAX + VARINT_FIELD_BYTES_MAX; // GroupMessage: its tag, group_id, message tag
  sizeBytes += 8 * VARINT_FIELD_BYTES_MAX; // type, term, logTerm, index, commit, reject, rejectHint, hintTerm
  sizeBytes += stringBytesMax(m.from) + stringBytesMax(m.to);
  sizeBytes += LEN_PREFIX_BYTES_MAX + m.context.length;
  for (const e of m.entries) sizeBytes += ENTRY_OVERHEAD_BYTES_MAX + e.data.length;
  if (m.snapshot !== undefined) sizeBytes += chunkBytesMax(m.snapshot);
  return sizeBytes;
}

/**
 * Types whose loss costs a whole election timeout or restarts a snapshot transfer; queues evict
 * other messages (heartbeats, appends and their responses, which Raft resends every tick) first.
 */
const PRECIOUS: ReadonlySet<MessageType> = new Set<MessageType>([
  'snap',
  'vote',
  'voteResp',
  'preVote',
  'preVoteResp',
  'timeoutNow',
  'transferLeader',
]);

export function isPrecious(t: MessageType): boolean {
  return PRECIOUS.has(t);
}
