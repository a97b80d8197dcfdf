// Bad input gets a clear error and the node stays up — empty and oversize keys,
// oversize values, and byte streams that are not gRPC sent to both of its ports.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { bytesToUtf8, InvalidArgumentError, type RingkvClient } from '../../src/client/index.ts';
import { ProcessCluster, type ProcessNode, runCli, sleep } from './harness.ts';

const KEY_MAX = 4096;
const VALUE_MAX = 1024 * 1024;

describe('bad input against a real node', { timeout: 90_000 }, () => {
  let c: ProcessCluster;
  let node: ProcessNode;
  let client: RingkvClient;

  before(async () => {
    c = await ProcessCluster.start({ nodes: 1 });
    node = c.nodes[0]!;
    client = c.client();
  });

  after(async () => {
    await c?.cleanup();
  });

  test('empty key: INVALID_ARGUMENT naming the problem, for every operation', async () => {
    const isEmptyKeyError = (e: unknown) => e instanceof InvalidArgumentError && /empty/i.test(e.message);
    await assert.rejects(client.put('', 'v'), isEmptyKeyError);
    await assert.rejects(client.get(''), isEmptyKeyError);
    await assert.rejects(client.delete(''), isEmptyKeyError);
    await assert.rejects(client.compareAndSwap('', { absent: true }, 'v'), isEmptyKeyError);
  });

  test('oversize key and value: INVALID_ARGUMENT; at the limit: accepted', async () => {
    const bigKey = 'k'.repeat(KEY_MAX + 1);
    await assert.rejects(
      client.put(bigKey, 'v'),
      (e: unknown) => e instanceof InvalidArgumentError && /key/i.test(e.message),
    );
    await assert.rejects(client.get(bigKey), InvalidArgumentError);
    const bigValue = new Uint8Array(VALUE_MAX + 1).fill(0x61);
    await assert.rejects(
      client.put('big-value', bigValue),
      (e: unknown) => e instanceof InvalidArgumentError && /value/i.test(e.message),
    );
    await client.put('k'.repeat(KEY_MAX), 'fits');
    await client.put('max-value', new Uint8Array(VALUE_MAX).fill(0x62));
    const r = await client.get('max-value');
    assert.ok(r.found && r.value.length === VALUE_MAX);
  });

  test('the CLI reports a bad key in one line and exits 1', async () => {
    const r = await runCli(['put', '', 'v', '--endpoints', node.endpoint]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: invalid request: .*empty/i);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  test('non-gRPC byte streams on the client and the raft port: the node stays up and serves', async () => {
    const streams: Buffer[] = [
      randomBytes(64 * 1024),
      Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'),
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), randomBytes(4096)]),
      // A frame header announcing a huge frame, then nothing.
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        Buffer.from([0xff, 0xff, 0xff, 0x00, 0x00, 0, 0, 0, 1]),
      ]),
      Buffer.alloc(0),
    ];
    // All at once: the node must cope with them together, and the test stays short.
    await Promise.all(
      [node.port, node.raftPort].flatMap((port) => streams.map((bytes) => sendAndClose(port, bytes))),
    );
    await sleep(300);
    assert.ok(node.running, `node exited after garbage input:\n${node.tail()}`);
    await client.put('still-up', 'yes');
    const r = await client.get('still-up');
    assert.ok(r.found && bytesToUtf8(r.value) === 'yes');
    assert.ok(
      !node.output.some((l) => /"level":60|Uncaught|TypeError|RangeError/.test(l)),
      `fatal or uncaught error in the node's log:\n${node.tail()}`,
    );
  });
});

/** Connects, writes `bytes`, and waits (bounded) for the server to close, then closes. */
function sendAndClose(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, 'localhost');
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 1500);
    s.on('error', done);
    s.on('close', done);
    s.on('connect', () => {
      if (bytes.length > 0) s.write(bytes);
      else s.end();
    });
  });
}
