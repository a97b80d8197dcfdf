import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GroupMessage, RaftMessage, RaftMessageType } from '../gen/ringkv/v1/peer.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { MESSAGE_TYPES, messageFromWire, messageToWire, wireSizeBoundBytes } from './codec.ts';
import { PeerCodecError } from './errors.ts';
import { arbMessage, message } from './testing.ts';

const a = nodeId('a');
const b = nodeId('b');

describe('codec', () => {
  it('round-trips every message exactly through the protobuf bytes', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const bytes = RaftMessage.encode(messageToWire(m)).finish();
        assert.deepStrictEqual(messageFromWire(RaftMessage.decode(bytes)), m);
      }),
      { numRuns: 300 },
    );
  });

  it('never underestimates the encoded size of a GroupMessage', () => {
    fc.assert(
      fc.property(arbMessage, fc.nat(), (m, groupId) => {
        const encodedBytes = GroupMessage.encode({ groupId, message: messageToWire(m) }).finish().length;
        assert.ok(encodedBytes <= wireSizeBoundBytes(m), `${encodedBytes} > ${wireSizeBoundBytes(m)}`);
      }),
      { numRuns: 300 },
    );
  });

  it('maps the message types one to one onto distinct wire values', () => {
    const wire = MESSAGE_TYPES.map((type) => messageToWire(message({ type, from: a, to: b })).type);
    assert.equal(MESSAGE_TYPES.length, 19);
    assert.equal(new Set(wire).size, MESSAGE_TYPES.length);
    assert.ok(!wire.includes(RaftMessageType.RAFT_MESSAGE_TYPE_UNSPECIFIED));
  });

  it('decodes byte fields into copies, not views of the received frame (even from a Buffer)', () => {
    const data = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.of(4, 5)];
    const m = message({
      type: 'app',
      from: a,
      to: b,
      entries: data.map((d, i) => ({ term: term(1), index: index(i + 1), type: 'normal', data: d })),
    });
    const frame = Buffer.from(RaftMessage.encode(messageToWire(m)).finish());
    const decoded = messageFromWire(RaftMessage.decode(frame));
    const got = decoded.entries.map((e) => e.data);
    assert.deepStrictEqual(got, data);
    for (const g of got) {
      assert.notEqual(g.buffer, frame.buffer, 'not a view of the frame');
      assert.equal(g.buffer.byteLength, 5, "the message's entries share one buffer of their total size");
    }
    frame.fill(0);
    assert.deepStrictEqual(
      decoded.entries.map((e) => e.data),
      data,
      'overwriting the frame leaves the message intact',
    );
  });

  it('refuses a peer value beyond 2^53 - 1 with a typed error naming the field', () => {
    const wire = { ...messageToWire(message({ from: a, to: b })), commit: 2n ** 53n };
    assert.throws(
      () => messageFromWire(RaftMessage.decode(RaftMessage.encode(wire).finish())),
      (err: unknown) =>
        err instanceof PeerCodecError && err.code === 'PEER_MESSAGE_INVALID' && err.field === 'commit',
    );
  });

  it('refuses unknown or unspecified message and entry types', () => {
    const base = messageToWire(message({ from: a, to: b }));
    for (const type of [0, 20, 999]) {
      const bytes = RaftMessage.encode({ ...base, type: type as RaftMessageType }).finish();
      assert.throws(() => messageFromWire(RaftMessage.decode(bytes)), PeerCodecError);
    }
    const entry = { term: 1n, index: 1n, type: 7 as never, data: new Uint8Array(0) };
    assert.throws(() => messageFromWire({ ...base, entries: [entry] }), /entries\[0\]\.type/);
  });

  it('refuses a snapshot chunk without metadata', () => {
    const base = messageToWire(message({ type: 'snap', from: a, to: b }));
    const snapshot = { metadata: undefined, offset: 0n, data: new Uint8Array(0), totalBytes: 0n, done: true };
    assert.throws(() => messageFromWire({ ...base, snapshot }), /snapshot\.metadata/);
  });

  it('asserts that our own numbers are non-negative safe integers', () => {
    assert.throws(() => messageToWire(message({ from: a, to: b, term: term(2 ** 53) })), /term must be/);
    assert.throws(() => messageToWire(message({ from: a, to: b, index: index(-1) })), /index must be/);
    assert.throws(() => messageToWire(message({ from: a, to: b, commit: index(1.5) })), /commit must be/);
  });

  it('asserts that node ids survive UTF-8 (no lone surrogates)', () => {
    assert.throws(() => messageToWire(message({ from: nodeId('\ud800'), to: b })), /well-formed/);
  });
});
