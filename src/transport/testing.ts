// Helpers for the transport's tests (imported by *.test.ts only): message factories, fast-check
// arbitraries that cover every field of a Raft Message, and a bounded wait.
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { emptyMessage } from '../raft/messages.ts';
import type { ConfState, Entry, Message, NodeId, SnapshotChunk } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { MESSAGE_TYPES } from './codec.ts';

/** A message with zero values except what `partial` gives (a heartbeat unless it says otherwise). */
export function message(partial: Partial<Message> & Pick<Message, 'from' | 'to'>): Message {
  return emptyMessage({ type: 'heartbeat', ...partial });
}

/** An 'app' carrying one entry of `dataBytes` bytes whose first bytes encode `seq`. */
export function appMessage(from: NodeId, to: NodeId, seq: number, dataBytes = 8): Message {
  const data = new Uint8Array(Math.max(dataBytes, 4));
  new DataView(data.buffer).setUint32(0, seq);
  return message({
    type: 'app',
    from,
    to,
    term: term(1),
    index: index(seq),
    entries: [{ term: term(1), index: index(seq + 1), type: 'normal', data }],
  });
}

export function seqOf(msg: Message): number {
  const data = msg.entries[0]?.data;
  if (data === undefined) throw new Error(`message without entry: ${msg.type}`);
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

// Messages are plain objects; fast-check would otherwise also try null-prototype ones.
const plain = { noNullPrototype: true } as const;
const arbId: fc.Arbitrary<NodeId> = fc.string({ unit: 'grapheme', maxLength: 12 }).map(nodeId);
const arbIds = fc.array(arbId, { maxLength: 4 });
const arbTerm = fc.maxSafeNat().map(term);
const arbIndex = fc.maxSafeNat().map(index);
const arbBytes = fc.uint8Array({ maxLength: 64 });

const arbEntry: fc.Arbitrary<Entry> = fc.record(
  {
    term: arbTerm,
    index: arbIndex,
    type: fc.constantFrom('normal' as const, 'confChange' as const),
    data: arbBytes,
  },
  plain,
);

const arbConfState: fc.Arbitrary<ConfState> = fc.record(
  {
    voters: arbIds,
    votersOutgoing: arbIds,
    learners: arbIds,
    learnersNext: arbIds,
    autoLeave: fc.boolean(),
  },
  plain,
);

const arbChunk: fc.Arbitrary<SnapshotChunk> = fc.record(
  {
    metadata: fc.record({ index: arbIndex, term: arbTerm, confState: arbConfState }, plain),
    offset: fc.maxSafeNat(),
    data: arbBytes,
    totalBytes: fc.maxSafeNat(),
    done: fc.boolean(),
  },
  plain,
);

/** Any valid Message: every type, every field, with and without a snapshot chunk. */
export const arbMessage: fc.Arbitrary<Message> = fc
  .record(
    {
      type: fc.constantFrom(...MESSAGE_TYPES),
      from: arbId,
      to: arbId,
      term: arbTerm,
      logTerm: arbTerm,
      index: arbIndex,
      entries: fc.array(arbEntry, { maxLength: 4 }),
      commit: arbIndex,
      reject: fc.boolean(),
      rejectHint: arbIndex,
      hintTerm: arbTerm,
      context: arbBytes,
    },
    plain,
  )
  .chain((m) =>
    fc
      .option(arbChunk, { nil: undefined })
      .map((snapshot) => (snapshot === undefined ? m : { ...m, snapshot })),
  );

/** Polls `cond` every 5 ms; throws naming `what` if it is still false after `timeoutMs`. */
export async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(5);
  }
}
