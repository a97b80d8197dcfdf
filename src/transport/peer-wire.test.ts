// The raft port at the byte level (a raw node:http2 client), keepalive, and close().
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { Message, NodeId } from '../raft/types.ts';
import { nodeId } from '../raft/types.ts';
import { encodeBatchFrame } from './grpc-frames.ts';
import { GrpcTransport, type GrpcTransportOptions } from './grpc-transport.ts';
import { appMessage, message, seqOf, until } from './testing.ts';

const A = nodeId('a');
const B = nodeId('b');

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function started(
  localId: NodeId,
  extra: Partial<Omit<GrpcTransportOptions, 'localId'>> = {},
): Promise<{ t: GrpcTransport; got: Message[] }> {
  const t = new GrpcTransport({ localId, listenHost: '127.0.0.1', listenPort: 0, ...extra });
  cleanups.push(() => t.close());
  await t.start();
  const got: Message[] = [];
  t.onMessage((_g, m) => got.push(m));
  return { t, got };
}

interface RawCall {
  readonly session: http2.ClientHttp2Session;
  readonly stream: http2.ClientHttp2Stream;
  /** grpc-status and grpc-message, from the trailers or a trailers-only response. */
  readonly status: Promise<{ code: string; message: string }>;
}

/** A hand-made gRPC client stream from node a to node b on `port`. */
function rawCall(port: number): RawCall {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  cleanups.push(() => {
    session.destroy();
  });
  const stream = session.request({
    ':method': 'POST',
    ':path': '/ringkv.v1.PeerService/Stream',
    'content-type': 'application/grpc',
    te: 'trailers',
    'ringkv-from-node-id': 'a',
    'ringkv-to-node-id': 'b',
    'ringkv-cluster-id': '',
  });
  stream.on('error', () => {});
  stream.resume();
  const status = new Promise<{ code: string; message: string }>((resolve) => {
    const take = (h: http2.IncomingHttpHeaders): void => {
      const code = h['grpc-status'];
      if (typeof code === 'string') resolve({ code, message: decodeURI(String(h['grpc-message'] ?? '')) });
    };
    stream.on('response', take);
    stream.on('trailers', take);
  });
  return { session, stream, status };
}

function frame(seqs: readonly number[], dataBytes = 8): Buffer {
  const items = seqs.map((seq) => ({ groupId: 1, msg: appMessage(A, B, seq, dataBytes) }));
  return encodeBatchFrame(new BinaryWriter(), A, '', items);
}

describe('the raft port at the byte level', () => {
  it('reassembles batches whose bytes arrive in separate DATA frames, several per frame too', async () => {
    const { t, got } = await started(B);
    const call = rawCall(t.port);
    const bytes = Buffer.concat([frame([0]), frame([1, 2]), frame([3], 3000)]);
    // Cut inside the first prefix, inside a message, and keep two batches in one write.
    for (const piece of [bytes.subarray(0, 3), bytes.subarray(3, 20), bytes.subarray(20)]) {
      call.stream.write(piece);
      await sleep(10);
    }
    await until('4 messages', () => got.length === 4);
    assert.deepEqual(got.map(seqOf), [0, 1, 2, 3]);
    call.stream.end();
    assert.deepEqual(await call.status, { code: '0', message: 'OK' });
  });

  it('refuses a message longer than grpcMessageBytesMax with RESOURCE_EXHAUSTED', async () => {
    const { t, got } = await started(B, {
      grpcMessageBytesMax: 128 * 1024,
      limits: { batchBytesMax: 32 * 1024 },
    });
    const call = rawCall(t.port);
    call.stream.write(frame([0]));
    call.stream.write(frame([1], 200 * 1024));
    const { code, message: text } = await call.status;
    assert.equal(code, '8');
    assert.match(text, /more than the bound of 131072/);
    assert.deepEqual(got.map(seqOf), [0], 'what came before is delivered');
    assert.equal(t.stats().streamsRejected, 1);
  });

  it('delivers nothing of a message cut short by the end of the stream', async () => {
    const { t, got } = await started(B);
    const call = rawCall(t.port);
    const bytes = Buffer.concat([frame([0]), frame([1])]);
    call.stream.end(bytes.subarray(0, bytes.length - 4));
    const { code, message: text } = await call.status;
    assert.equal(code, '13');
    assert.match(text, /ended inside a message/);
    assert.deepEqual(got.map(seqOf), [0]);
  });

  it('refuses an unknown method with UNIMPLEMENTED and a stream without handshake with INVALID_ARGUMENT', async () => {
    const { t } = await started(B);
    const session = http2.connect(`http://127.0.0.1:${t.port}`);
    cleanups.push(() => {
      session.destroy();
    });
    const codeOf = (headers: http2.OutgoingHttpHeaders): Promise<unknown> =>
      new Promise((resolve) => {
        const s = session.request({ ':method': 'POST', 'content-type': 'application/grpc', ...headers });
        s.on('response', (h) => resolve(h['grpc-status']));
        s.resume();
      });
    assert.equal(await codeOf({ ':path': '/ringkv.v1.PeerService/Other' }), '12');
    assert.equal(await codeOf({ ':path': '/ringkv.v1.PeerService/Stream' }), '3');
  });
});

describe('flow control', () => {
  it('carries more than the flow-control windows, waiting for drain, in order and without loss', async () => {
    const { t: b, got } = await started(B);
    const { t: a } = await started(A, { timing: { writesInFlightMax: 1 } });
    a.setPeerAddress(B, b.address);
    const count = 400; // 400 × 64 KiB = 25 MiB: three times the receive window, 1,600 × the write buffer
    for (let seq = 0; seq < count; seq++) {
      a.send(1, appMessage(A, B, seq, 64 * 1024));
      // Several turns, and never more than the queue's 16 MiB waiting: the queue bound is not tested here.
      if (a.queuedMessages(B) >= 100) await until('the queue drains', () => a.queuedMessages(B) < 50);
    }
    await until(`${count} messages at b`, () => got.length === count, 20_000);
    assert.deepEqual(got.map(seqOf), [...Array(count).keys()]);
    assert.equal(a.stats().droppedQueueFull, 0);
  });
});

describe('keepalive and close', () => {
  it('notices a peer that vanished without closing its connection, by keepalive pings', async () => {
    const { t: b, got } = await started(B);
    // A TCP relay between a and b that can go silent (no FIN, no RST: like a pulled cable).
    let frozen = false;
    const sockets: Socket[] = [];
    const relay = createServer((inbound) => {
      const outbound = tcpConnect(b.port, '127.0.0.1');
      sockets.push(inbound, outbound);
      inbound.on('data', (d) => {
        if (!frozen) outbound.write(d);
      });
      outbound.on('data', (d) => {
        if (!frozen) inbound.write(d);
      });
      inbound.on('error', () => {});
      outbound.on('error', () => {});
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => relay.close(resolve));
    });
    const address = relay.address();
    assert.ok(address !== null && typeof address === 'object');
    const { t: a } = await started(A, {
      timing: { keepaliveIntervalMs: 100, backoffMinMs: 20, backoffMaxMs: 100 },
    });
    const unreachable: NodeId[] = [];
    a.onUnreachable((peer) => unreachable.push(peer));
    a.setPeerAddress(B, `127.0.0.1:${address.port}`);
    a.send(1, appMessage(A, B, 0));
    await until('delivery through the relay', () => got.length === 1);
    await sleep(350);
    assert.deepEqual(unreachable, [], 'answered pings keep a quiet connection alive');
    frozen = true;
    const frozenAtMs = Date.now();
    await until('onUnreachable after unanswered pings', () => unreachable.length === 1, 2000);
    const waitedMs = Date.now() - frozenAtMs;
    assert.ok(waitedMs <= 1000, `noticed after ${waitedMs} ms, expected within about two intervals`);
    assert.equal(a.stats().connectFailures, 1);
  });

  it('close() ends the incoming streams and the outgoing ones', async () => {
    const { t: b, got } = await started(B);
    const { t: a } = await started(A, { timing: { backoffMinMs: 20, backoffMaxMs: 100 } });
    const unreachable: NodeId[] = [];
    a.onUnreachable((peer) => unreachable.push(peer));
    a.setPeerAddress(B, b.address);
    a.send(1, message({ from: A, to: B }));
    await until('delivery', () => got.length === 1);
    const call = rawCall(b.port);
    const closed = new Promise<void>((resolve) => call.session.on('close', () => resolve()));
    await b.close();
    await closed; // b ended the raw client's connection
    await until('a notices b closed its stream', () => unreachable.length === 1, 1000);
    // a's close ends its own outgoing stream: the receiver sees the connection go.
    const { t: c, got: atC } = await started(B);
    a.setPeerAddress(B, c.address);
    await sleep(150); // past the backoff
    a.send(1, message({ from: A, to: B }));
    await until('delivery to the new b', () => atC.length === 1);
    const connectFailuresBefore = a.stats().connectFailures;
    await a.close();
    assert.equal(a.stats().connectFailures, connectFailuresBefore, 'closing is not a failure');
    const raw = rawCall(c.port); // c still serves others after a left
    raw.stream.end(frame([7]));
    await until('a message from a raw client after a closed', () => atC.length === 2);
  });
});
