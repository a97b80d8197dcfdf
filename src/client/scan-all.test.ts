// scanAll: a scan followed over its pages, one page in memory at a time, cut at `limit`, ended by a
// signal; first against an in-memory page function (to see every page asked for), then through
// RingkvClient against the fake cluster (keys spread over 8 shards).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RingkvClient } from './client.ts';
import { CancelledError, ServerError } from './errors.ts';
import type { ScanItem, ScanOptions, ScanResult } from './kv-types.ts';
import { scanAll } from './scan-all.ts';
import { withDecoding } from './stored-value.ts';
import { FakeCluster } from './testing/fake-server.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function item(key: string): ScanItem {
  const value = enc(`v-${key}`);
  return withDecoding({ key: enc(key), value, version: 1n }, { key: enc(key), value });
}

/** A page function over sorted keys, as the server pages (continuation: the last key returned), recording each request. */
function pager(keys: readonly string[]) {
  const asked: ScanOptions[] = [];
  const scanPage = async (opts: ScanOptions): Promise<ScanResult> => {
    asked.push(opts);
    const after = opts.continuation === undefined ? '' : dec(opts.continuation);
    const rest = keys.filter((k) => after === '' || k > after);
    const limit = opts.limit ?? 1000;
    const items = rest.slice(0, limit).map(item);
    const last = items[items.length - 1];
    return { items, continuation: rest.length > limit && last !== undefined ? last.key : undefined };
  };
  return { asked, scanPage };
}

const keys = Array.from({ length: 23 }, (_, i) => `k${String(i).padStart(2, '0')}`);

describe('scanAll over pages', () => {
  test('yields every item in order across pages', async () => {
    const { asked, scanPage } = pager(keys);
    const got: string[] = [];
    for await (const i of scanAll(scanPage, { pageSize: 5, prefix: 'k' })) got.push(dec(i.key));
    assert.deepEqual(got, keys);
    assert.equal(asked.length, 5);
    assert.ok(asked.every((o) => o.prefix === 'k' && o.limit === 5));
  });

  test('asks for the next page only once this one is consumed: one page in memory', async () => {
    const { asked, scanPage } = pager(keys);
    const it = scanAll(scanPage, { pageSize: 5 })[Symbol.asyncIterator]();
    assert.equal(asked.length, 0, 'nothing is asked before the first next()');
    for (let n = 1; n <= 5; n++) await it.next();
    assert.equal(asked.length, 1);
    await it.next();
    assert.equal(asked.length, 2);
    assert.equal(dec(asked[1]?.continuation ?? new Uint8Array()), 'k04');
  });

  test('limit bounds the items in all, and the last page asks only for what is left', async () => {
    const { asked, scanPage } = pager(keys);
    const got: string[] = [];
    for await (const i of scanAll(scanPage, { pageSize: 5, limit: 12 })) got.push(dec(i.key));
    assert.deepEqual(got, keys.slice(0, 12));
    assert.deepEqual(
      asked.map((o) => o.limit),
      [5, 5, 2],
    );
  });

  test('leaving the loop early asks for nothing more', async () => {
    const { asked, scanPage } = pager(keys);
    for await (const i of scanAll(scanPage, { pageSize: 5 })) if (dec(i.key) === 'k02') break;
    assert.equal(asked.length, 1);
  });

  test('an aborted signal ends the iteration before the next page', async () => {
    const { asked, scanPage } = pager(keys);
    const controller = new AbortController();
    const got: string[] = [];
    await assert.rejects(async () => {
      for await (const i of scanAll(scanPage, { pageSize: 5, signal: controller.signal })) {
        got.push(dec(i.key));
        if (got.length === 5) controller.abort();
      }
    }, CancelledError);
    assert.equal(got.length, 5);
    assert.equal(asked.length, 1);
  });

  test('a bad limit or page size is refused at once', () => {
    const { scanPage } = pager(keys);
    assert.throws(() => scanAll(scanPage, { limit: 0 }), /limit must be an integer >= 1, got 0/);
    assert.throws(() => scanAll(scanPage, { pageSize: 2.5 }), /page size must be an integer >= 1/);
  });

  test('a page that continues without advancing is a server error, not an endless loop', async () => {
    const stuck = async (): Promise<ScanResult> => ({ items: [item('a')], continuation: enc('a') });
    await assert.rejects(async () => {
      for await (const _ of scanAll(stuck, { pageSize: 1 })) {
        // consume
      }
    }, ServerError);
    const empty = async (): Promise<ScanResult> => ({ items: [], continuation: enc('a') });
    await assert.rejects(async () => {
      for await (const _ of scanAll(empty)) {
        // consume
      }
    }, /did not advance/);
  });
});

describe('RingkvClient.scanAll', () => {
  let cluster: FakeCluster;
  let client: RingkvClient;

  before(async () => {
    cluster = await FakeCluster.start({ nodes: 3, shards: 8 });
    client = new RingkvClient({ endpoints: [cluster.nodes[0]!.addr] });
    for (let i = 0; i < 40; i++) await client.put(`user/${String(i).padStart(3, '0')}`, `{"n":${i}}`);
    await client.put('other', 'x');
  });

  after(async () => {
    await client.close();
    await cluster.close();
  });

  test('follows the pages to the end of the prefix, in key order, with the value helpers', async () => {
    cluster.calls.length = 0;
    const got: number[] = [];
    for await (const i of client.scanAll({ prefix: 'user/', pageSize: 7 }))
      got.push(i.json<{ n: number }>().n);
    assert.deepEqual(
      got,
      Array.from({ length: 40 }, (_, i) => i),
    );
    assert.equal(cluster.calls.filter((c) => c.method === 'scan').length, 6);
  });

  test('limit and keysOnly pass through', async () => {
    const got: string[] = [];
    for await (const i of client.scanAll({ prefix: 'user/', limit: 3, keysOnly: true })) {
      got.push(`${dec(i.key)}=${i.text()}`);
    }
    assert.deepEqual(got, ['user/000=', 'user/001=', 'user/002=']);
  });
});
