import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { connect, createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Message, NodeId } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { TransportBindError } from './errors.ts';
import { GrpcTransport, type GrpcTransportOptions } from './grpc-transport.ts';
import type { TransportLogger } from './log.ts';
import { appMessage, message, seqOf, until } from './testing.ts';

const A = nodeId('a');
const B = nodeId('b');
const C = nodeId('c');

const open = new Set<GrpcTransport>();
after(async () => {
  for (const t of open) await t.close();
});

type Extra = Partial<Omit<GrpcTransportOptions, 'localId'>>;

async function started(localId: NodeId, extra: Extra = {}): Promise<GrpcTransport> {
  const t = new GrpcTransport({
    localId,
    listenHost: '127.0.0.1',
    listenPort: 0,
    timing: { backoffMinMs: 20, backoffMaxMs: 200 },
    ...extra,
  });
  open.add(t);
  await t.start();
  return t;
}

interface Received {
  readonly groupId: number;
  readonly msg: Message;
}

function inbox(t: GrpcTransport): Received[] {
  const got: Received[] = [];
  t.onMessage((groupId, msg) => got.push({ groupId, msg }));
  return got;
}

/** Two started transports that know each other, with a first message delivered (stream open). */
async function pair(extraA: Extra = {}, extraB: Extra = {}) {
  const a = await started(A, extraA);
  const b = await started(B, extraB);
  a.setPeerAddress(B, b.address);
  b.setPeerAddress(A, a.address);
  const atA = inbox(a);
  const atB = inbox(b);
  a.send(0, message({ from: A, to: B }));
  await until('first message a→b', () => atB.length === 1);
  atB.length = 0;
  return { a, b, atA, atB };
}

class MemoryLog implements TransportLogger {
  readonly lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  debug(fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'debug', msg, fields });
  }
  info(fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'info', msg, fields });
  }
  warn(fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'warn', msg, fields });
  }
  error(fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'error', msg, fields });
  }
  errors(): string[] {
    return this.lines.filter((l) => l.level === 'error').map((l) => `${l.msg}: ${JSON.stringify(l.fields)}`);
  }
}

describe('GrpcTransport', () => {
  it('binds an ephemeral port and exposes it', async () => {
    const t = await started(A);
    assert.ok(t.port > 0 && t.port < 65536, `port ${t.port}`);
    assert.equal(t.address, `127.0.0.1:${t.port}`);
  });

  it('carries messages of several groups both ways, one batch per peer per turn', async () => {
    const { a, b, atA, atB } = await pair();
    const batchesBefore = b.stats().batchesReceived;
    const sentBefore = a.stats().batchesSent;
    const count = 60;
    for (let seq = 0; seq < count; seq++) a.send(seq % 6, appMessage(A, B, seq));
    await until('60 messages at b', () => atB.length === count);
    assert.equal(b.stats().batchesReceived - batchesBefore, 1, 'one turn of sends arrives as one batch');
    assert.equal(a.stats().batchesSent - sentBefore, 1);
    assert.deepEqual(
      atB.map((r) => seqOf(r.msg)),
      [...Array(count).keys()],
      'in order',
    );
    assert.deepEqual(
      atB.map((r) => r.groupId),
      [...Array(count).keys()].map((s) => s % 6),
      'each message keeps its group',
    );
    assert.deepEqual(atB[7]?.msg, appMessage(A, B, 7), 'the message arrives intact');
    b.send(3, message({ type: 'heartbeatResp', from: B, to: A, term: term(5), commit: index(9) }));
    await until('reply at a', () => atA.length === 1);
    assert.equal(atA[0]?.groupId, 3);
    assert.equal(atA[0]?.msg.commit, 9);
  });

  it('keeps each peer’s traffic: bytes sent and received, and the keepalive’s round trip', async () => {
    const { a, b, atB } = await pair({
      timing: { backoffMinMs: 20, backoffMaxMs: 200, keepaliveIntervalMs: 50 },
    });
    const before = a.peerTraffic().get(B)?.bytesSent ?? 0;
    for (let i = 0; i < 10; i++) a.send(1, appMessage(A, B, i + 1, 1000));
    await until('ten messages at b', () => atB.length === 10);
    const sent = a.peerTraffic().get(B)?.bytesSent ?? 0;
    assert.ok(sent - before > 10 * 1000, `a counted ${sent - before} bytes sent to b for 10 KB of entries`);
    await until('b to count what a sent', () => b.peerTraffic().get(A)?.bytesReceived === sent);
    assert.equal(a.peerTraffic().get(B)?.bytesReceived ?? 0, 0, 'nothing came from b on a stream of its own');
    await until('a keepalive round trip to b', () => a.peerTraffic().get(B)?.rttMs !== undefined);
    const rtt = a.peerTraffic().get(B)?.rttMs ?? -1;
    assert.ok(rtt >= 0 && rtt < 1000, `round trip ${rtt} ms`);
  });

  it('flush() writes what was queued at once: sends around it leave as two batches, in order', async () => {
    const { a, b, atB } = await pair();
    const sentBefore = a.stats().batchesSent;
    const receivedBefore = b.stats().batchesReceived;
    for (let seq = 0; seq < 3; seq++) a.send(1, appMessage(A, B, seq));
    a.flush();
    assert.equal(a.stats().batchesSent - sentBefore, 1, 'written before the end of the turn');
    for (let seq = 3; seq < 5; seq++) a.send(1, appMessage(A, B, seq));
    a.flush();
    a.flush(); // nothing queued: no empty batch
    await until('5 messages at b', () => atB.length === 5);
    assert.equal(a.stats().batchesSent - sentBefore, 2);
    assert.equal(b.stats().batchesReceived - receivedBefore, 2);
    assert.deepEqual(
      atB.map((r) => seqOf(r.msg)),
      [0, 1, 2, 3, 4],
    );
  });

  it('cancels the end-of-turn flush once flush() wrote everything (no idle loop iteration)', async () => {
    const { a, atB } = await pair();
    // Every immediate made while the hook is on, and those whose callback ran.
    const made = new Set<number>();
    const ran = new Set<number>();
    const hook = createHook({
      init: (id, type) => {
        if (type === 'Immediate') made.add(id);
      },
      before: (id) => {
        if (made.has(id)) ran.add(id);
      },
    });
    hook.enable();
    try {
      a.send(1, appMessage(A, B, 0));
      const first = [...made];
      assert.equal(first.length, 1, 'a send schedules the end-of-turn flush');
      a.flush();
      await sleep(20);
      assert.ok(!ran.has(first[0] as number), 'a flush that left nothing behind cancelled it');
      made.clear();
      a.send(1, appMessage(A, B, 1)); // a later send schedules one again, which runs
      const second = [...made];
      assert.equal(second.length, 1);
      await sleep(20);
      assert.ok(ran.has(second[0] as number), 'the end-of-turn flush ran');
    } finally {
      hook.disable();
    }
    await until('both messages at b', () => atB.length === 2);
    assert.deepEqual(
      atB.map((r) => seqOf(r.msg)),
      [0, 1],
    );
  });

  it('carries a snapshot chunk larger than gRPC’s default 4 MiB message limit', async () => {
    const { a, atB } = await pair();
    const data = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251);
    const cs = { voters: [A, B], votersOutgoing: [], learners: [C], learnersNext: [], autoLeave: false };
    const snap = message({
      type: 'snap',
      from: A,
      to: B,
      term: term(3),
      snapshot: {
        metadata: { index: index(100), term: term(2), confState: cs },
        offset: 0,
        data,
        totalBytes: data.length,
        done: true,
      },
    });
    a.send(1, snap);
    await until('snapshot chunk at b', () => atB.length === 1, 10_000);
    assert.deepEqual(atB[0]?.msg, snap);
  });

  it('reports an unreachable peer, then delivers once it comes up', async () => {
    const probe = await started(B);
    const port = probe.port;
    await probe.close(); // the port is now free: b is "down"
    const a = await started(A);
    const unreachable: NodeId[] = [];
    a.onUnreachable((peer) => unreachable.push(peer));
    a.setPeerAddress(B, `127.0.0.1:${port}`);
    let seq = 0;
    const timer = setInterval(() => a.send(1, appMessage(A, B, seq++)), 10);
    try {
      await until('onUnreachable(b)', () => unreachable.length >= 2);
      assert.ok(unreachable.every((p) => p === B));
      assert.ok(a.stats().connectFailures >= 2, `connectFailures ${a.stats().connectFailures}`);
      assert.ok(a.stats().droppedUnreachable > 0);
      const b = await started(B, { listenPort: port });
      const atB = inbox(b);
      await until('messages at b after it came up', () => atB.length >= 3);
      const seqs = atB.map((r) => seqOf(r.msg));
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        'still in order',
      );
    } finally {
      clearInterval(timer);
    }
  });

  it('gives up on a peer that accepts TCP but never answers, within the connect timeout', async () => {
    const sockets = new Set<Socket>();
    const blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.resume(); // swallow everything, answer nothing
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    try {
      const address = blackHole.address();
      assert.ok(address !== null && typeof address === 'object');
      const a = await started(A, { timing: { connectTimeoutMs: 150, backoffMinMs: 20, backoffMaxMs: 100 } });
      const unreachable: NodeId[] = [];
      a.onUnreachable((peer) => unreachable.push(peer));
      a.setPeerAddress(B, `127.0.0.1:${address.port}`);
      const sentAtMs = Date.now();
      a.send(1, message({ from: A, to: B }));
      await until('onUnreachable after the connect timeout', () => unreachable.length === 1);
      const waitedMs = Date.now() - sentAtMs;
      assert.ok(waitedMs >= 140, `reported after ${waitedMs} ms, before the timeout`);
      assert.equal(a.stats().connectFailures, 1);
      assert.equal(a.stats().droppedUnreachable, 1, 'the queued message is dropped with the attempt');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });

  it('bounds a peer’s queue in messages: drops the oldest, counts them, reports the peer', async () => {
    const { a, atB } = await pair({ limits: { queueMessagesMax: 100 } });
    const unreachable: NodeId[] = [];
    a.onUnreachable((peer) => unreachable.push(peer));
    for (let seq = 0; seq < 1000; seq++) a.send(2, appMessage(A, B, seq));
    assert.equal(a.queuedMessages(B), 100);
    assert.equal(a.stats().droppedQueueFull, 900);
    await until('100 messages at b', () => atB.length === 100);
    await sleep(50);
    assert.equal(atB.length, 100, 'nothing beyond the bound arrives');
    assert.equal(atB[0] === undefined ? -1 : seqOf(atB[0].msg), 900, 'the newest 100 survive');
    assert.deepEqual(unreachable, [B], 'reported once for the whole turn');
  });

  it('bounds a peer’s queue in bytes', async () => {
    const { a, atB } = await pair({ limits: { queueBytesMax: 16 * 1024 } });
    for (let seq = 0; seq < 100; seq++) a.send(1, appMessage(A, B, seq, 1024));
    const dropped = a.stats().droppedQueueFull;
    assert.ok(dropped > 80 && dropped < 100, `dropped ${dropped}`);
    await until('the survivors at b', () => atB.length === 100 - dropped);
    const oneTooBig = appMessage(A, B, 0, 32 * 1024);
    a.send(1, oneTooBig);
    assert.equal(a.stats().droppedTooLarge, 1, 'a message larger than the whole queue is refused alone');
  });

  it('survives garbage bytes on the raft port and keeps working', async () => {
    const { a, b, atB } = await pair();
    const junk = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.alloc(64, 0xff)]),
    ];
    for (const bytes of junk) {
      await new Promise<void>((resolve) => {
        const socket = connect(b.port, '127.0.0.1', () => socket.end(bytes));
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.resume();
        socket.setTimeout(2000, () => socket.destroy());
      });
    }
    a.send(4, appMessage(A, B, 42));
    await until('a message after the garbage', () => atB.length === 1);
    assert.equal(atB[0]?.groupId, 4);
    // A fresh stream, too: the server still accepts new peers.
    const c = await started(C);
    c.setPeerAddress(B, b.address);
    c.send(5, message({ from: C, to: B }));
    await until('a message from a new peer', () => atB.length === 2);
  });

  it('refuses streams from another cluster, with an error on both sides', async () => {
    const logA = new MemoryLog();
    const logB = new MemoryLog();
    const a = await started(A, {
      clusterId: 'cluster-1',
      logger: logA,
      timing: { backoffMinMs: 20, backoffMaxMs: 100 },
    });
    const b = await started(B, { clusterId: 'cluster-2', logger: logB });
    const atB = inbox(b);
    const unreachable: NodeId[] = [];
    a.onUnreachable((peer) => unreachable.push(peer));
    a.setPeerAddress(B, b.address);
    a.send(1, message({ from: A, to: B }));
    await until('refusal', () => b.stats().streamsRejected >= 1 && unreachable.length >= 1);
    assert.equal(atB.length, 0);
    assert.match(logB.errors().join('\n'), /node 'a' belongs to cluster 'cluster-1'.*cluster 'cluster-2'/);
    assert.match(logA.errors().join('\n'), /refused our stream.*FAILED_PRECONDITION/);
    a.setClusterId('cluster-2');
    const timer = setInterval(() => a.send(1, message({ from: A, to: B })), 10);
    try {
      await until('delivery once the cluster ids agree', () => atB.length >= 1);
    } finally {
      clearInterval(timer);
    }
  });

  it('refuses a stream meant for another node (stale address)', async () => {
    const logB = new MemoryLog();
    const a = await started(A);
    const b = await started(B, { logger: logB });
    const atB = inbox(b);
    a.setPeerAddress(C, b.address); // a believes c lives at b's port
    a.send(1, message({ from: A, to: C }));
    await until('refusal', () => b.stats().streamsRejected >= 1);
    assert.equal(atB.length, 0);
    assert.match(logB.errors().join('\n'), /belongs to node 'b', not 'c'/);
  });

  it('never throws from send for network conditions, and never calls handlers from inside send', async () => {
    const a = await started(A);
    let inSend = false;
    let calledInside = false;
    const unreachable: NodeId[] = [];
    a.onUnreachable((peer) => {
      if (inSend) calledInside = true;
      unreachable.push(peer);
    });
    inSend = true;
    a.send(1, message({ from: A, to: B })); // no address known for b
    inSend = false;
    assert.equal(a.stats().droppedUnreachable, 1);
    assert.deepEqual(unreachable, []);
    await until('deferred onUnreachable', () => unreachable.length === 1);
    assert.equal(calledInside, false);
    await a.close();
    a.send(1, message({ from: A, to: B }));
    assert.equal(a.stats().droppedUnreachable, 2, 'after close, sends are dropped and counted');
    await a.close(); // idempotent
  });

  it('rejects start() on a port in use with a typed error', async () => {
    const a = await started(A);
    const clash = new GrpcTransport({ localId: B, listenHost: '127.0.0.1', listenPort: a.port });
    open.add(clash);
    await assert.rejects(
      clash.start(),
      (err: unknown) => err instanceof TransportBindError && err.code === 'RAFT_PORT_BIND_FAILED',
    );
  });
});
