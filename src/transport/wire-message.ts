// The peer stream's messages straight between the core's Message (src/raft/types.ts) and bytes,
// without the generated RaftMessage objects and their bigints: the same bytes as the generated
// encoder of messageToWire(m) (fields in number order, zero values left out), and the same Message
// as messageFromWire of the generated decoder, for every valid input (wire-message.test.ts checks
// both against codec.ts). A snapshot chunk, rare and large, goes through the generated code.
// Terms, indexes and offsets are numbers below 2^53: our own are asserted (a bug otherwise), a
// peer's checked (PeerCodecError: that message is dropped).
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { RaftSnapshotChunk } from '../gen/ringkv/v1/peer.ts';
import type { Entry, Message } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import {
  chunkFromWire,
  chunkToWire,
  copy,
  type EntryView,
  entriesOf,
  MESSAGE_TYPE,
  WIRE_ENTRY_TYPE,
  WIRE_TYPE,
  wellFormed,
} from './codec.ts';
import { PeerCodecError } from './errors.ts';
import { NO_BYTES, WIRE_LEN, WIRE_VARINT, WireFormatError, WireReader } from './wire-reader.ts';

const TWO_32 = 2 ** 32;

/** A field's tag: its number and wire type. */
const tag = (field: number, wireType: number): number => (field << 3) | wireType;

// RaftMessage (peer.proto).
const M_TYPE = tag(1, WIRE_VARINT);
const M_FROM = tag(2, WIRE_LEN);
const M_TO = tag(3, WIRE_LEN);
const M_TERM = tag(4, WIRE_VARINT);
const M_LOG_TERM = tag(5, WIRE_VARINT);
const M_INDEX = tag(6, WIRE_VARINT);
const M_ENTRIES = tag(7, WIRE_LEN);
const M_COMMIT = tag(8, WIRE_VARINT);
const M_REJECT = tag(9, WIRE_VARINT);
const M_REJECT_HINT = tag(10, WIRE_VARINT);
const M_HINT_TERM = tag(11, WIRE_VARINT);
const M_SNAPSHOT = tag(12, WIRE_LEN);
const M_CONTEXT = tag(13, WIRE_LEN);
// RaftEntry.
const E_TERM = tag(1, WIRE_VARINT);
const E_INDEX = tag(2, WIRE_VARINT);
const E_TYPE = tag(3, WIRE_VARINT);
const E_DATA = tag(4, WIRE_LEN);
// PeerServiceStreamRequest, PeerBatch, GroupMessage.
const REQ_BATCH = tag(1, WIRE_LEN);
const B_FROM = tag(1, WIRE_LEN);
const B_CLUSTER = tag(2, WIRE_LEN);
const B_MESSAGES = tag(3, WIRE_LEN);
const G_GROUP = tag(1, WIRE_VARINT);
const G_MESSAGE = tag(2, WIRE_LEN);

/** A uint64 field of ours, left out when zero (proto3). */
function writeU64(w: BinaryWriter, fieldTag: number, n: number, field: string): void {
  if (n === 0) return;
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`transport codec: ${field} must be a non-negative safe integer, got ${n}`);
  w.uint32(fieldTag);
  // The same varint either way; uint32 avoids the bigint conversion for what fits 32 bits.
  if (n < TWO_32) w.uint32(n);
  else w.uint64(BigInt(n));
}

function writeEntry(w: BinaryWriter, e: Entry): void {
  w.uint32(M_ENTRIES).fork();
  writeU64(w, E_TERM, e.term, 'entry.term');
  writeU64(w, E_INDEX, e.index, 'entry.index');
  w.uint32(E_TYPE).int32(WIRE_ENTRY_TYPE[e.type]);
  if (e.data.length > 0) w.uint32(E_DATA).bytes(e.data);
  w.join();
}

/** Writes `m` as the fields of a RaftMessage (the caller frames it). */
export function writeRaftMessage(w: BinaryWriter, m: Message): void {
  w.uint32(M_TYPE).int32(WIRE_TYPE[m.type]);
  if (m.from !== '') w.uint32(M_FROM).string(wellFormed(m.from, 'from'));
  if (m.to !== '') w.uint32(M_TO).string(wellFormed(m.to, 'to'));
  writeU64(w, M_TERM, m.term, 'term');
  writeU64(w, M_LOG_TERM, m.logTerm, 'logTerm');
  writeU64(w, M_INDEX, m.index, 'index');
  for (const e of m.entries) writeEntry(w, e);
  writeU64(w, M_COMMIT, m.commit, 'commit');
  if (m.reject) w.uint32(M_REJECT).bool(true);
  writeU64(w, M_REJECT_HINT, m.rejectHint, 'rejectHint');
  writeU64(w, M_HINT_TERM, m.hintTerm, 'hintTerm');
  if (m.snapshot !== undefined)
    RaftSnapshotChunk.encode(chunkToWire(m.snapshot), w.uint32(M_SNAPSHOT).fork()).join();
  if (m.context.length > 0) w.uint32(M_CONTEXT).bytes(m.context);
}

function readEntry(r: WireReader, i: number): EntryView {
  const e: EntryView = { term: 0, index: 0, type: 0, data: NO_BYTES };
  // Bounded: every pass consumes at least the tag.
  while (!r.done()) {
    const t = r.tag();
    // The field's name is built only for a refusal: this runs for every entry received.
    if (t === E_TERM) e.term = r.uint64('term', 'entries', i);
    else if (t === E_INDEX) e.index = r.uint64('index', 'entries', i);
    else if (t === E_TYPE) e.type = r.uint32() | 0;
    else if (t === E_DATA) e.data = r.bytes();
    else r.skip(t & 7);
  }
  return e;
}

/** Reads the fields of one RaftMessage up to the reader's end. */
export function readRaftMessage(r: WireReader): Message {
  let wireType = 0;
  let from = '';
  let to = '';
  let mTerm = 0;
  let logTerm = 0;
  let mIndex = 0;
  const entries: EntryView[] = [];
  let commit = 0;
  let reject = false;
  let rejectHint = 0;
  let hintTerm = 0;
  let snapshot: Uint8Array | undefined;
  let context: Uint8Array = NO_BYTES;
  // Bounded: every pass consumes at least the tag.
  while (!r.done()) {
    const t = r.tag();
    switch (t) {
      case M_TYPE:
        wireType = r.uint32() | 0;
        break;
      case M_FROM:
        from = r.string();
        break;
      case M_TO:
        to = r.string();
        break;
      case M_TERM:
        mTerm = r.uint64('term');
        break;
      case M_LOG_TERM:
        logTerm = r.uint64('logTerm');
        break;
      case M_INDEX:
        mIndex = r.uint64('index');
        break;
      case M_ENTRIES:
        entries.push(readEntry(r.message(), entries.length));
        break;
      case M_COMMIT:
        commit = r.uint64('commit');
        break;
      case M_REJECT:
        reject = r.bool();
        break;
      case M_REJECT_HINT:
        rejectHint = r.uint64('rejectHint');
        break;
      case M_HINT_TERM:
        hintTerm = r.uint64('hintTerm');
        break;
      case M_SNAPSHOT:
        snapshot = r.bytes();
        break;
      case M_CONTEXT:
        context = r.bytes();
        break;
      default:
        r.skip(t & 7);
    }
  }
  const type = MESSAGE_TYPE.get(wireType);
  if (type === undefined) throw new PeerCodecError('type', `unknown message type ${wireType}`);
  const m: Message = {
    type,
    from: nodeId(from),
    to: nodeId(to),
    term: term(mTerm),
    logTerm: term(logTerm),
    index: index(mIndex),
    entries: entriesOf(entries),
    commit: index(commit),
    reject,
    rejectHint: index(rejectHint),
    hintTerm: term(hintTerm),
    context: copy(context),
  };
  // exactOptionalPropertyTypes: the key is absent, never present-and-undefined.
  return snapshot === undefined ? m : { ...m, snapshot: chunkFromWire(RaftSnapshotChunk.decode(snapshot)) };
}

/** One message of a batch: the decoded Message, or why it cannot be (that message is dropped). */
export interface BatchMessage {
  readonly groupId: number;
  readonly message: Message | PeerCodecError;
}

/** A PeerBatch as the receiving side checks and delivers it. */
export interface BatchIn {
  readonly fromNodeId: string;
  readonly clusterId: string;
  readonly messages: readonly BatchMessage[];
}

function readGroupMessage(r: WireReader): BatchMessage {
  let groupId = 0;
  let message: Message | PeerCodecError | undefined;
  // Bounded: every pass consumes at least the tag.
  while (!r.done()) {
    const t = r.tag();
    if (t === G_GROUP) groupId = r.uint32();
    else if (t === G_MESSAGE) {
      const sub = r.message();
      try {
        message = readRaftMessage(sub);
      } catch (err) {
        if (!(err instanceof PeerCodecError)) throw err;
        message = err;
      }
    } else r.skip(t & 7);
  }
  return { groupId, message: message ?? new PeerCodecError('message', 'missing') };
}

function readBatch(r: WireReader): BatchIn {
  let fromNodeId = '';
  let clusterId = '';
  const messages: BatchMessage[] = [];
  // Bounded: every pass consumes at least the tag.
  while (!r.done()) {
    const t = r.tag();
    if (t === B_FROM) fromNodeId = r.string();
    else if (t === B_CLUSTER) clusterId = r.string();
    else if (t === B_MESSAGES) messages.push(readGroupMessage(r.message()));
    else r.skip(t & 7);
  }
  return { fromNodeId, clusterId, messages };
}

/**
 * Decodes one PeerServiceStreamRequest: its batch, or undefined when it carries none. Throws
 * WireFormatError for malformed bytes (the stream is refused); a message the core cannot represent
 * is handed out as its PeerCodecError (dropped alone).
 */
export function readPeerRequest(bytes: Uint8Array): BatchIn | undefined {
  const r = new WireReader(bytes);
  let batch: BatchIn | undefined;
  // Bounded: every pass consumes at least the tag.
  while (!r.done()) {
    const t = r.tag();
    if (t === REQ_BATCH) batch = readBatch(r.message());
    else if (t === 0) throw new WireFormatError('a field numbered 0');
    else r.skip(t & 7);
  }
  return batch;
}

/** `m` encoded and decoded again, as a receiver gets it (the simulator's network): it shares nothing with `m`. */
export function throughTheWire(m: Message): Message {
  const w = new BinaryWriter();
  writeRaftMessage(w, m);
  return readRaftMessage(new WireReader(w.finish()));
}
