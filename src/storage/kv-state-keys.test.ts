// A key's string is held once, however often the key is written: a write decodes the key into a new
// string, and the state must keep the string it already holds for that key (StoredValue.key), not
// the new one, in every structure that names the key (map, sorted index, slabs, leases). Strings
// equal in content are indistinguishable in JavaScript, so a child process counts them in a heap
// snapshot (v8.writeHeapSnapshot), which lists every live string object.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const KEYS = 5_000;

const CHILD = `
import { readFileSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { KvState } from ${JSON.stringify(new URL('./kv-state.ts', import.meta.url).href)};
const [keys, dir] = [Number(process.argv[1]), process.argv[2]];
const key = (i) => Buffer.from('test-key/' + String(i).padStart(8, '0'), 'latin1');
const state = new KvState();
let index = 0;
// Puts, then overwrites (one with a lease, one in a transaction), then deletes and puts again.
for (let i = 0; i < keys; i++) state.put(key(i), Buffer.alloc(100, 1), ++index);
for (let round = 0; round < 3; round++)
  for (let i = 0; i < keys; i++) state.put(key(i), Buffer.alloc(100 + round, 2), ++index);
const grant = state.apply(++index, { op: 'leaseGrant', ttlMs: 60_000, clientId: 1, seq: 1 });
state.apply(++index, { op: 'put', key: key(0), value: Buffer.alloc(10), lease: grant.lease, clientId: 1, seq: 2 });
state.apply(++index, { op: 'put', key: key(0), value: Buffer.alloc(10), lease: grant.lease, clientId: 1, seq: 3 });
state.apply(++index, {
  op: 'txn', compares: [], success: [{ op: 'put', key: key(1), value: Buffer.alloc(20) }], failure: [], clientId: 1, seq: 4,
});
state.delete(key(2), ++index);
state.put(key(2), Buffer.alloc(30), ++index);
const file = writeHeapSnapshot(dir + '/child.heapsnapshot');
const snap = JSON.parse(readFileSync(file, 'utf8'));
const fields = snap.snapshot.meta.node_fields;
const stringType = snap.snapshot.meta.node_types[0].indexOf('string');
let count = 0;
for (let i = 0; i < snap.nodes.length; i += fields.length) {
  if (snap.nodes[i + fields.indexOf('type')] !== stringType) continue;
  if (snap.strings[snap.nodes[i + fields.indexOf('name')]].startsWith('test-key/')) count++;
}
if (state.count !== keys) throw new Error('the state holds ' + state.count + ' keys');
console.log(JSON.stringify({ keyStrings: count }));
`;

test('a key written many times is held as one string, not one per write', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-keys-'));
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '--eval', CHILD, String(KEYS), dir],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const { keyStrings } = JSON.parse(stdout.trim().split('\n').pop() as string) as { keyStrings: number };
    // One per key; a few more may be left over from the last writes until the next collection.
    assert.ok(keyStrings >= KEYS, `${keyStrings} key strings for ${KEYS} keys: the snapshot lost some`);
    assert.ok(keyStrings <= KEYS + 10, `${keyStrings} key strings for ${KEYS} keys written four times`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
