// What one shard's snapshot costs the event loop: serialising a KV state of N keys (KvState.serialize,
// the bytes a local snapshot and a follower's copy are made of), its checksum, and restoring it
// (KvState.restore, what a follower installing it and a restarting node do), each a synchronous
// stretch on the node's one thread today. Beside them, the machine's price of fresh memory: the
// same fill of a buffer of the snapshot's size, once on pages never touched (each first write
// faults a page in) and once on pages already in use, so that what is copying and what is the
// kernel mapping memory can be told apart.
// usage: node bench/snapshot-cost.ts [--keys 75000] [--value-bytes 1024] [--reps 5]
import { crc32 } from 'node:zlib';
import { decodeCommand, encodeCommand } from '../src/storage/command.ts';
import { KvState } from '../src/storage/kv-state.ts';
import { scriptOptions } from './script-options.ts';

const USAGE = `usage: node bench/snapshot-cost.ts [--keys N] [--value-bytes B] [--reps R]
  the time one shard's snapshot holds the event loop: serialize, crc32 and restore of a KV state of
  N keys (default 75000: 600,000 keys over 8 shards) of B-byte values (default 1024), R times
  (default 5); and the time to fill a buffer of the snapshot's size on fresh pages and on reused ones`;

function options(): { keys: number; valueBytes: number; reps: number } {
  const o = scriptOptions({ keys: '75000', 'value-bytes': '1024', reps: '5' }, USAGE);
  return {
    keys: o.int('keys', 1, 2_000_000),
    valueBytes: o.int('value-bytes', 0, 1024 * 1024),
    reps: o.int('reps', 1, 100),
  };
}

function ms(t0: number): string {
  return (performance.now() - t0).toFixed(1);
}

const o = options();
const state = new KvState();
const value = Buffer.alloc(o.valueBytes, 0x61);
for (let i = 0; i < o.keys; i++) {
  const key = Buffer.from(`bench/key/${String(i).padStart(7, '0')}`);
  // Through the command codec, as entries reach the state in a node.
  state.apply(i + 1, decodeCommand(encodeCommand({ op: 'put', key, value, clientId: 1, seq: i + 1 })));
}
console.log(`${o.keys} keys of ${o.valueBytes} B in one shard's state`);
for (let r = 1; r <= o.reps; r++) {
  let t = performance.now();
  const bytes = state.serialize();
  const serialize = ms(t);
  t = performance.now();
  crc32(bytes);
  const crc = ms(t);
  t = performance.now();
  const restored = KvState.restore(bytes);
  const restore = ms(t);
  if (restored.count !== state.count) throw new Error(`restored ${restored.count} keys of ${state.count}`);
  t = performance.now();
  const fresh = Buffer.allocUnsafe(bytes.byteLength);
  fresh.fill(1);
  const freshFill = ms(t);
  t = performance.now();
  fresh.fill(2);
  const reusedFill = ms(t);
  console.log(
    `rep ${r}: ${(bytes.byteLength / 1e6).toFixed(1)} MB; serialize ${serialize} ms, crc32 ${crc} ms, restore ${restore} ms; ` +
      `fill of as many bytes on fresh pages ${freshFill} ms, on the same pages again ${reusedFill} ms`,
  );
}
