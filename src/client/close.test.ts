// close(): new calls refused at once, calls in flight let finish (or cut at close's own timeout),
// the channels closed synchronously when nothing is in flight (for callers that do not await it).
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { RingkvClient } from './client.ts';
import { ClientClosedError, RingkvError } from './errors.ts';
import { FakeCluster } from './testing/fake-server.ts';

let cluster: FakeCluster;

before(async () => {
  cluster = await FakeCluster.start({ nodes: 3, shards: 4 });
});

after(async () => {
  await cluster.close();
});

beforeEach(() => {
  for (const n of cluster.nodes) n.delayMs = 0;
});

async function connected(): Promise<RingkvClient> {
  const c = new RingkvClient({ endpoints: cluster.nodes.map((n) => n.addr) });
  await c.put('k', 'v'); // learns the shard map and connects
  return c;
}

test('with nothing in flight, close() needs no await: later calls are refused with ClientClosedError', async () => {
  const c = await connected();
  const closing = c.close();
  const refused = await c.get('k').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(refused instanceof ClientClosedError && refused instanceof RingkvError, String(refused));
  assert.equal(refused.code, 'CLIENT_CLOSED');
  assert.match(refused.message, /get "k" after close\(\): the client is closed/);
  assert.equal(c.close(), closing, 'idempotent: the same promise');
  await closing;
  assert.throws(() => c.scanAll({ limit: 0 }), RangeError, 'argument errors still come first');
  await assert.rejects(c.statusOfEveryMember(), ClientClosedError);
});

test('close() waits for the calls in flight, which finish normally; new calls are refused meanwhile', async () => {
  const c = await connected();
  for (const n of cluster.nodes) n.delayMs = 300;
  const startMs = Date.now();
  const slowGet = c.get('k');
  const slowPut = c.put('k2', 'v2');
  let closedAtMs: number | undefined;
  const closing = c.close().then(() => {
    closedAtMs = Date.now();
  });
  await assert.rejects(c.put('k3', 'v3'), ClientClosedError);
  const got = await slowGet;
  assert.ok(got.found);
  assert.equal(got.text(), 'v');
  assert.ok((await slowPut).version > 0n);
  await closing;
  assert.ok(
    closedAtMs !== undefined && closedAtMs - startMs >= 250,
    `closed after ${closedAtMs! - startMs} ms`,
  );
  assert.equal(cluster.get(new TextEncoder().encode('k3')), undefined);
});

test("close()'s own timeoutMs cuts the wait: the channels close under the calls still in flight", async () => {
  const c = await connected();
  for (const n of cluster.nodes) n.delayMs = 3000;
  const slow = c.get('k', { timeoutMs: 10_000 }).then(
    () => 'answered',
    () => 'failed',
  );
  const startMs = Date.now();
  await c.close({ timeoutMs: 100 });
  const tookMs = Date.now() - startMs;
  assert.ok(tookMs >= 90 && tookMs < 1500, `close took ${tookMs} ms`);
  assert.equal(await slow, 'failed');
});

test('a second close() with a shorter timeout takes effect over a first one that waits', async () => {
  const c = await connected();
  for (const n of cluster.nodes) n.delayMs = 3000;
  const slow = c.get('k', { timeoutMs: 10_000 }).catch(() => 'failed');
  const first = c.close();
  const startMs = Date.now();
  void c.close({ timeoutMs: 0 });
  await first;
  assert.ok(Date.now() - startMs < 1500);
  assert.equal(await slow, 'failed');
});

test('a scanAll under way is refused its next page once close() began', async () => {
  const c = await connected();
  for (let i = 0; i < 6; i++) await c.put(`s/${i}`, 'x');
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const item of c.scanAll({ prefix: 's/', pageSize: 2 })) {
      seen.push(new TextDecoder().decode(item.key));
      if (seen.length === 1) void c.close();
    }
  }, ClientClosedError);
  assert.deepEqual(seen, ['s/0', 's/1']);
});
