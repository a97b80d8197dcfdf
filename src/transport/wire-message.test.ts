// The direct peer codec (wire-message.ts, wire-reader.ts) against the generated one (codec.ts over
// src/gen): the same bytes out, the same Message in, the same refusals; unknown fields skipped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import fc from 'fast-check';
import { PeerServiceStreamRequest, RaftMessage } from '../gen/ringkv/v1/peer.ts';
import type { Message } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { messageFromWire, messageToWire } from './codec.ts';
import { PeerCodecError } from './errors.ts';
import { arbMessage, message } from './testing.ts';
import { readPeerRequest, readRaftMessage, writeRaftMessage } from './wire-message.ts';
import { WireFormatError, WireReader } from './wire-reader.ts';

const a = nodeId('a');
const b = nodeId('b');

function written(m: Message): Uint8Array {
  const w = new BinaryWriter();
  writeRaftMessage(w, m);
  return w.finish();
}

const read = (bytes: Uint8Array): Message => readRaftMessage(new WireReader(bytes));

describe('the direct peer codec', () => {
  it('writes the bytes the generated encoder writes, and reads back the same message (property)', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const generated = RaftMessage.encode(messageToWire(m)).finish();
        const bytes = written(m);
        assert.deepEqual(bytes, generated);
        assert.deepStrictEqual(read(bytes), m);
        assert.deepStrictEqual(read(bytes), messageFromWire(RaftMessage.decode(bytes)));
      }),
      { numRuns: 500 },
    );
  });

  it('reads a request with several batches of messages as the generated decoder does (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ groupId: fc.nat(0xffff_ffff), msg: arbMessage }), { maxLength: 5 }),
        fc.string({ maxLength: 8 }),
        fc.string({ maxLength: 8 }),
        (list, fromNodeId, clusterId) => {
          const request = {
            batch: {
              fromNodeId,
              clusterId,
              messages: list.map((it) => ({ groupId: it.groupId, message: messageToWire(it.msg) })),
            },
          };
          const got = readPeerRequest(PeerServiceStreamRequest.encode(request).finish());
          assert.deepStrictEqual(got, {
            fromNodeId: request.batch.fromNodeId,
            clusterId: request.batch.clusterId,
            messages: list.map((it) => ({ groupId: it.groupId, message: it.msg })),
          });
        },
      ),
      { numRuns: 200 },
    );
    assert.equal(readPeerRequest(new Uint8Array(0)), undefined, 'an empty request carries no batch');
  });

  it('copies what it keeps: the received bytes may be overwritten once read', () => {
    const m = message({ from: a, to: b, type: 'app', context: new Uint8Array([9, 9]) });
    const withEntries: Message = {
      ...m,
      entries: [{ term: term(1), index: index(2), type: 'normal', data: new Uint8Array([1, 2, 3]) }],
    };
    const bytes = written(withEntries);
    const got = read(bytes);
    bytes.fill(0);
    assert.deepStrictEqual(got, withEntries);
  });

  it('skips fields it does not know, as protobuf requires of a newer peer', () => {
    const w = new BinaryWriter();
    writeRaftMessage(w, message({ from: a, to: b, commit: index(5) }));
    w.uint32((99 << 3) | 0).uint32(7); // a varint field 99
    w.uint32((98 << 3) | 2).bytes(new Uint8Array([1, 2, 3])); // a length-delimited field 98
    w.uint32((97 << 3) | 1).fixed64(1n); // fixed64
    w.uint32((96 << 3) | 5).fixed32(1); // fixed32
    assert.deepStrictEqual(read(w.finish()), message({ from: a, to: b, commit: index(5) }));
  });

  it('refuses a peer value beyond 2^53 - 1, and unknown types, with a typed error naming the field', () => {
    const big = RaftMessage.encode({
      ...messageToWire(message({ from: a, to: b })),
      commit: 2n ** 53n,
    }).finish();
    assert.throws(
      () => read(big),
      (err: unknown) => err instanceof PeerCodecError && err.field === 'commit',
    );
    const base = messageToWire(message({ from: a, to: b }));
    for (const type of [0, 20, 999]) {
      const bytes = RaftMessage.encode({ ...base, type: type as never }).finish();
      assert.throws(() => read(bytes), PeerCodecError);
    }
    const hugeEntry = { term: 1n, index: 2n ** 60n, type: 1 as never, data: new Uint8Array(0) };
    const ok = { ...hugeEntry, index: 1n };
    assert.throws(
      () => read(RaftMessage.encode({ ...base, entries: [ok, hugeEntry] }).finish()),
      (err: unknown) => err instanceof PeerCodecError && err.field === 'entries[1].index',
    );
    const entry = { term: 1n, index: 1n, type: 7 as never, data: new Uint8Array(0) };
    assert.throws(
      () => read(RaftMessage.encode({ ...base, entries: [entry] }).finish()),
      /entries\[0\]\.type/,
    );
  });

  it('hands out a bad message of a batch as its error, the others decoded', () => {
    const good = message({ from: a, to: b, type: 'heartbeat' });
    const bad = { ...messageToWire(message({ from: a, to: b })), term: 2n ** 60n };
    const bytes = PeerServiceStreamRequest.encode({
      batch: {
        fromNodeId: 'a',
        clusterId: '',
        messages: [
          { groupId: 1, message: messageToWire(good) },
          { groupId: 2, message: bad },
          { groupId: 3, message: undefined },
        ],
      },
    }).finish();
    const got = readPeerRequest(bytes);
    assert.deepStrictEqual(got?.messages[0], { groupId: 1, message: good });
    const second = got?.messages[1]?.message;
    assert.ok(second instanceof PeerCodecError && second.field === 'term');
    const third = got?.messages[2]?.message;
    assert.ok(third instanceof PeerCodecError && third.field === 'message');
  });

  it('refuses malformed bytes with WireFormatError', () => {
    const bytes = written(message({ from: a, to: b, type: 'app', context: new Uint8Array(10) }));
    for (let cut = 1; cut < bytes.length; cut++) {
      // Cut anywhere inside a field: a truncated varint or a length past the end.
      const truncated = bytes.subarray(0, cut);
      try {
        read(truncated);
      } catch (err) {
        assert.ok(err instanceof WireFormatError || err instanceof PeerCodecError, String(err));
      }
    }
    assert.throws(() => read(new Uint8Array([0x08, 0x80])), WireFormatError, 'a varint cut short');
    assert.throws(() => read(new Uint8Array([0x6a, 0x05, 1])), WireFormatError, 'a length past the end');
    assert.throws(() => read(new Uint8Array([0x0b])), WireFormatError, 'a group');
    assert.throws(() => read(new Uint8Array(11).fill(0xff)), WireFormatError, 'a varint of 11 bytes');
  });

  it('reads ids of one length that differ in a byte right, more of them than it keeps decoded', () => {
    // Recently decoded ids are found again by their bytes: 40 ids of five bytes, in every position
    // of a batch (offsets that move), each read back as itself.
    const ids = Array.from({ length: 40 }, (_, i) => nodeId(`n${String(i).padStart(4, '0')}`));
    for (let round = 0; round < 3; round++) {
      const list = ids.map((from, i) => ({
        groupId: i,
        message: messageToWire(message({ from, to: ids[(i * 7 + round) % ids.length] as typeof from })),
      }));
      const fromNodeId = ids[round] as string;
      const bytes = PeerServiceStreamRequest.encode({
        batch: { fromNodeId, clusterId: 'c1', messages: list },
      }).finish();
      const got = readPeerRequest(bytes);
      assert.equal(got?.fromNodeId, fromNodeId);
      assert.deepStrictEqual(
        got?.messages.map((it) => [(it.message as Message).from, (it.message as Message).to]),
        list.map((it) => [it.message.from, it.message.to]),
      );
    }
  });

  it('shares one empty array for what is empty: no context, no entries', () => {
    const one = read(written(message({ from: a, to: b })));
    const two = read(written(message({ from: b, to: a })));
    assert.equal(one.context.length, 0);
    assert.equal(one.context, two.context, 'one shared empty context');
    assert.equal(one.entries.length, 0);
    assert.equal(one.entries, two.entries, 'one shared empty list of entries');
    assert.ok(Object.isFrozen(one.entries), 'the shared list cannot grow');
  });

  it('asserts that our own numbers are non-negative safe integers and ids survive UTF-8', () => {
    assert.throws(() => written(message({ from: a, to: b, term: term(2 ** 53) })), /term must be/);
    assert.throws(() => written(message({ from: a, to: b, index: index(-1) })), /index must be/);
    assert.throws(() => written(message({ from: a, to: b, commit: index(1.5) })), /commit must be/);
    assert.throws(() => written(message({ from: nodeId('\ud800'), to: b })), /well-formed/);
  });
});
