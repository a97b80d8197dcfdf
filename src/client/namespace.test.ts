// client.namespace(prefix): every key method under the prefix, scans confined to it and returned
// without it. Against the fake cluster (which reads scans as the server does: a range when start or
// end is given, else the prefix), and a property over the range mapping with an in-memory store.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { RingkvClient } from './client.ts';
import { prefixEnd, scopedScan } from './namespace.ts';
import { FakeCluster } from './testing/fake-server.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('namespace against the fake cluster', () => {
  let cluster: FakeCluster;
  let client: RingkvClient;
  // Neighbours of "app/" on both sides: shorter, equal but for the slash, one byte past it.
  const outside = ['ap', 'app', 'app.', 'app0', 'apq', 'b', 'a'];

  before(async () => {
    cluster = await FakeCluster.start({ nodes: 3, shards: 8 });
    client = new RingkvClient({ endpoints: [cluster.nodes[0]!.addr] });
  });

  after(async () => {
    await client.close();
    await cluster.close();
  });

  beforeEach(async () => {
    cluster.store.clear();
    for (const k of outside) await client.put(k, 'outside');
  });

  test('put, get, delete and compareAndSwap act on the prefixed key', async () => {
    const app = client.namespace('app/');
    await app.put('cfg', '{"on":true}');
    assert.equal(dec(cluster.get(enc('app/cfg'))?.value ?? new Uint8Array()), '{"on":true}');
    const got = await app.get('cfg');
    assert.ok(got.found);
    assert.deepEqual(got.json(), { on: true });
    assert.equal((await client.get('cfg')).found, false);
    const cas = await app.compareAndSwap('cfg', { value: '{"on":true}' }, 'off');
    assert.equal(cas.succeeded, true);
    assert.equal(cas.text(), 'off');
    assert.equal((await app.delete('cfg')).deleted, true);
    assert.equal(cluster.get(enc('app/cfg')), undefined);
  });

  test('scan and scanAll see only the namespace, keys without the prefix', async () => {
    const app = client.namespace('app/');
    for (const k of ['a', 'b/1', 'b/2', 'c']) await app.put(k, `v${k}`);
    const page = await app.scan();
    assert.deepEqual(
      page.items.map((i) => [dec(i.key), i.text()]),
      [
        ['a', 'va'],
        ['b/1', 'vb/1'],
        ['b/2', 'vb/2'],
        ['c', 'vc'],
      ],
    );
    assert.deepEqual(
      (await app.scan({ prefix: 'b/' })).items.map((i) => dec(i.key)),
      ['b/1', 'b/2'],
    );
    // A range within the namespace; an open end stops at the namespace's end, before "app0".
    assert.deepEqual(
      (await app.scan({ start: 'b/2' })).items.map((i) => dec(i.key)),
      ['b/2', 'c'],
    );
    assert.deepEqual(
      (await app.scan({ start: 'a', end: 'c' })).items.map((i) => dec(i.key)),
      ['a', 'b/1', 'b/2'],
    );
    const all: string[] = [];
    for await (const i of app.scanAll({ pageSize: 1 })) all.push(dec(i.key));
    assert.deepEqual(all, ['a', 'b/1', 'b/2', 'c']);
  });

  test('an empty namespace scans empty, though its neighbours hold keys', async () => {
    assert.deepEqual((await client.namespace('app/').scan()).items, []);
    assert.deepEqual((await client.namespace('app/').scan({ start: 'x' })).items, []);
  });

  test('namespaces nest, and a namespace of 0xff bytes still ends at its own keys', async () => {
    const users = client.namespace('app/').namespace('users/');
    await users.put('ann', '1');
    assert.ok(cluster.get(enc('app/users/ann')) !== undefined);
    assert.deepEqual(
      (await client.namespace('app/').scan()).items.map((i) => dec(i.key)),
      ['users/ann'],
    );
    const high = client.namespace(new Uint8Array([0xff]));
    await client.put(new Uint8Array([0xfe, 0x01]), 'below');
    await high.put(new Uint8Array([0x01]), 'in');
    const items = (await high.scan({ start: new Uint8Array([0x00]) })).items;
    assert.deepEqual(
      items.map((i) => hex(i.key)),
      ['01'],
    );
  });

  test('an empty prefix is refused', () => {
    assert.throws(() => client.namespace(''), /must not be empty/);
  });
});

describe('scopedScan', () => {
  test('prefixEnd: the first key past every key with the prefix', () => {
    assert.equal(hex(prefixEnd(enc('app/'))), hex(enc('app0')));
    assert.equal(hex(prefixEnd(new Uint8Array([0x61, 0xff, 0xff]))), '62');
    assert.equal(hex(prefixEnd(new Uint8Array([0xff, 0xff]))), '');
  });

  test('property: a scan of the namespace reads exactly its keys within the range asked', () => {
    const bytes = fc.uint8Array({ maxLength: 4 }).map((b) => b.map((x) => [0, 1, 0xfe, 0xff][x % 4]!));
    fc.assert(
      fc.property(
        bytes.filter((b) => b.length > 0),
        fc.array(bytes, { maxLength: 30 }),
        fc.option(bytes, { nil: undefined }),
        fc.option(bytes, { nil: undefined }),
        fc.option(bytes, { nil: undefined }),
        (ns, keys, prefix, start, end) => {
          const opts = {
            ...(prefix === undefined ? {} : { prefix }),
            ...(start === undefined ? {} : { start }),
            ...(end === undefined ? {} : { end }),
          };
          const full = keys.map((k) => Buffer.concat([ns, k]));
          const stored = [...full, ...keys].map((k) => Buffer.from(k));
          const req = scopedScan(ns, opts);
          const read = stored.filter((k) => serverReads(k, req)).map(hex);
          // What the namespace promises: its keys (the stored ones with ns as prefix) within opts, as a
          // scan of a store holding only them would read them.
          const expected = stored
            .filter((k) => k.subarray(0, ns.length).equals(ns))
            .filter((k) => serverReads(k.subarray(ns.length), opts))
            .map(hex);
          assert.deepEqual(read.sort(), expected.sort());
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** The server's reading of a scan request (src/server/scan.ts rangeOf): a range when start or end is set. */
function serverReads(
  key: Uint8Array,
  req: { prefix?: Uint8Array | string; start?: Uint8Array | string; end?: Uint8Array | string },
): boolean {
  const b = (v: Uint8Array | string | undefined) => Buffer.from(typeof v === 'string' ? enc(v) : (v ?? []));
  const k = Buffer.from(key);
  const [prefix, start, end] = [b(req.prefix), b(req.start), b(req.end)];
  if (start.length === 0 && end.length === 0) return k.subarray(0, prefix.length).equals(prefix);
  return Buffer.compare(k, start) >= 0 && (end.length === 0 || Buffer.compare(k, end) < 0);
}
