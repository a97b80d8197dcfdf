import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import fc from 'fast-check';
import { PeerServiceStreamRequest } from '../gen/ringkv/v1/peer.ts';
import { nodeId } from '../raft/types.ts';
import { messageToWire } from './codec.ts';
import { PeerFrameError } from './errors.ts';
import { encodeBatchFrame, FRAME_PREFIX_BYTES, FrameParser, frameOf } from './grpc-frames.ts';
import { appMessage, arbMessage } from './testing.ts';

/** Feeds `chunks` to a parser with bound `max`; returns the messages (copied) it handed out. */
function parse(chunks: readonly Buffer[], max = 1024): Buffer[] {
  const got: Buffer[] = [];
  const parser = new FrameParser(max, (m) => {
    got.push(Buffer.from(m)); // a copy: the parser may hand out views of the chunk
    return true;
  });
  for (const c of chunks) parser.push(c);
  parser.end();
  return got;
}

/** Cuts `bytes` at the given offsets (sorted, deduplicated, inside the buffer). */
function cut(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.filter((o) => o > 0 && o < bytes.length))].sort((x, y) => x - y);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  return chunks;
}

const bodies = [
  Buffer.from('hello'),
  Buffer.alloc(0),
  Buffer.from('a longer message of forty-one bytes total'),
];
const stream = Buffer.concat(bodies.map(frameOf));

describe('FrameParser', () => {
  it('hands out several messages that arrive in one chunk, in order', () => {
    assert.deepEqual(parse([stream]), bodies);
  });

  it('reassembles a message split across chunks at every possible point', () => {
    for (let at = 1; at < stream.length; at++) {
      assert.deepEqual(parse(cut(stream, [at])), bodies, `split at ${at}`);
    }
    const oneByteChunks = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(parse(oneByteChunks), bodies, 'one byte per chunk');
  });

  it('reassembles any chunking of any sequence of messages (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(4000), { maxLength: 12 }),
        (messages, offsets) => {
          const want = messages.map((m) => Buffer.from(m));
          const bytes = Buffer.concat(want.map(frameOf));
          assert.deepEqual(parse(cut(bytes, offsets), 300), want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hands out a view of the chunk, not a copy, when a message lies whole in one chunk', () => {
    const views: Buffer[] = [];
    const parser = new FrameParser(1024, (m) => {
      views.push(m);
      return true;
    });
    parser.push(stream);
    assert.equal(views.length, 3);
    assert.equal(views[0]?.buffer, stream.buffer, 'same memory as the chunk');
  });

  it('refuses a length above the bound before buffering anything', () => {
    const tooLong = Buffer.from([0, 0, 0, 4, 1]); // announces 1025 bytes
    const parser = new FrameParser(1024, () => true);
    assert.throws(
      () => parser.push(tooLong),
      (err: unknown) =>
        err instanceof PeerFrameError && err.problem === 'tooLarge' && /1025/.test(err.message),
    );
    assert.equal(parser.bufferedBytes, 0);
    // Exactly the bound is fine.
    const atBound = Buffer.alloc(1024, 7);
    assert.deepEqual(parse([frameOf(atBound)]), [atBound]);
  });

  it('refuses an oversize length even when its prefix is split across chunks', () => {
    const parser = new FrameParser(10, () => true);
    parser.push(Buffer.from([0, 0]));
    assert.throws(
      () => parser.push(Buffer.from([0, 0, 11])),
      (err: unknown) => err instanceof PeerFrameError,
    );
  });

  it('refuses a compressed message (we never negotiate compression)', () => {
    const compressed = frameOf(Buffer.from('x'));
    compressed[0] = 1;
    assert.throws(
      () => parse([compressed]),
      (err: unknown) => err instanceof PeerFrameError && err.problem === 'compressed',
    );
  });

  it('reports a stream truncated inside a prefix or inside a message', () => {
    for (const length of [2, FRAME_PREFIX_BYTES + 3]) {
      const truncated = stream.subarray(0, length);
      assert.throws(
        () => parse([truncated]),
        (err: unknown) => err instanceof PeerFrameError && err.problem === 'truncated',
        `truncated to ${length} bytes`,
      );
    }
    assert.deepEqual(parse([Buffer.alloc(0)]), [], 'an empty stream is not truncated');
  });

  it('bounds what it buffers to one message', () => {
    const parser = new FrameParser(1000, () => true);
    const big = frameOf(Buffer.alloc(1000, 1));
    parser.push(big.subarray(0, 600));
    assert.equal(parser.bufferedBytes, 600);
    parser.push(big.subarray(600));
    assert.equal(parser.bufferedBytes, 0);
  });

  it('stops handing out messages once the sink says stop', () => {
    let calls = 0;
    const parser = new FrameParser(1024, () => {
      calls++;
      return false;
    });
    parser.push(stream);
    parser.push(stream);
    parser.end();
    assert.equal(calls, 1);
  });
});

describe('encodeBatchFrame', () => {
  const from = nodeId('n1');
  const to = nodeId('n2');

  it('writes the same bytes as the generated encoder, behind a correct gRPC prefix (property)', () => {
    const writer = new BinaryWriter();
    fc.assert(
      fc.property(
        fc.array(fc.record({ groupId: fc.nat(0xffff_ffff), msg: arbMessage }), { maxLength: 6 }),
        fc.string({ maxLength: 8 }),
        fc.string({ maxLength: 8 }),
        (list, fromId, clusterId) => {
          const frame = encodeBatchFrame(writer, fromId, clusterId, list);
          const want = PeerServiceStreamRequest.encode({
            batch: {
              fromNodeId: fromId,
              clusterId,
              messages: list.map((it) => ({ groupId: it.groupId, message: messageToWire(it.msg) })),
            },
          }).finish();
          assert.deepEqual(frame, frameOf(want));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives every batch its own buffer although the writer is reused', () => {
    const writer = new BinaryWriter();
    const first = encodeBatchFrame(writer, from, 'c', [{ groupId: 1, msg: appMessage(from, to, 1) }]);
    const copy = Buffer.from(first);
    encodeBatchFrame(writer, from, 'c', [{ groupId: 2, msg: appMessage(from, to, 2, 4096) }]);
    assert.deepEqual(first, copy, 'the second batch did not overwrite the first');
    const [body] = parse([first], 1 << 20);
    assert.ok(body !== undefined);
    assert.equal(PeerServiceStreamRequest.decode(body).batch?.messages[0]?.groupId, 1);
  });
});
