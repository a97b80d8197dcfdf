import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeIndexed, encodeInteger, encodeLiteral, HpackDecoder, HpackError } from './hpack.ts';
import { huffmanEncode } from './huffman.ts';

function decodeHex(d: HpackDecoder, h: string): string[][] {
  const b = Buffer.from(h.replace(/\s+/g, ''), 'hex');
  const out: string[] = [];
  assert.equal(d.decode(b, 0, b.length, out), true);
  const pairs: string[][] = [];
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i] as string, out[i + 1] as string]);
  return pairs;
}

const FIRST = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const SECOND = [...FIRST, ['cache-control', 'no-cache']];
const THIRD = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];

describe('HPACK decoder', () => {
  it('decodes RFC 7541 C.3: requests with indexing, no Huffman, the table growing', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decodeHex(d, '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'), FIRST);
    assert.equal(d.tableBytes, 57);
    assert.deepEqual(decodeHex(d, '8286 84be 5808 6e6f 2d63 6163 6865'), SECOND);
    assert.equal(d.tableBytes, 110);
    assert.deepEqual(
      decodeHex(d, '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'),
      THIRD,
    );
    assert.equal(d.tableBytes, 164);
    assert.equal(d.tableEntries, 3);
  });

  it('decodes RFC 7541 C.4: the same requests Huffman-coded', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decodeHex(d, '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'), FIRST);
    assert.deepEqual(decodeHex(d, '8286 84be 5886 a8eb 1064 9cbf'), SECOND);
    assert.deepEqual(decodeHex(d, '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'), THIRD);
    assert.equal(d.tableBytes, 164);
  });

  it('decodes RFC 7541 C.5: responses in a table of 256 bytes, evicting the oldest', () => {
    const d = new HpackDecoder(256);
    const date = ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'];
    const location = ['location', 'https://www.example.com'];
    assert.deepEqual(
      decodeHex(
        d,
        '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      ),
      [[':status', '302'], ['cache-control', 'private'], date, location],
    );
    assert.equal(d.tableBytes, 222);
    assert.deepEqual(decodeHex(d, '4803 3330 37c1 c0bf'), [
      [':status', '307'],
      ['cache-control', 'private'],
      date,
      location,
    ]);
    assert.equal(d.tableBytes, 222);
    assert.equal(d.tableEntries, 4);
  });

  it('keeps the table in step with an encoder over many blocks (property)', () => {
    // A model encoder: each field indexed if the model's table has it, else a literal with
    // incremental indexing (Huffman or not); the model evicts as RFC 7541 says.
    const field = fc.tuple(
      fc.constantFrom('grpc-timeout', 'x-a', 'x-b', ':path', 'content-type'),
      fc.string({ maxLength: 40 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')),
      fc.boolean(),
    );
    fc.assert(
      fc.property(
        fc.array(fc.array(field, { maxLength: 8 }), { maxLength: 30 }),
        fc.integer({ min: 64, max: 512 }),
        (blocks, tableSize) => {
          const d = new HpackDecoder(tableSize);
          const model: [string, string][] = []; // newest first
          const sizeOf = (e: [string, string]) => e[0].length + e[1].length + 32;
          for (const block of blocks) {
            const bytes: number[] = [];
            for (const [name, value, huffman] of block) {
              const at = model.findIndex(([n, v]) => n === name && v === value);
              if (at >= 0) {
                encodeIndexed(62 + at, bytes);
                continue;
              }
              encodeInteger(0, 6, 0x40, bytes);
              for (const s of [name, value]) {
                const coded = huffman ? huffmanEncode(s) : Buffer.from(s, 'latin1');
                encodeInteger(coded.length, 7, huffman ? 0x80 : 0, bytes);
                bytes.push(...coded);
              }
              model.unshift([name, value]);
              while (model.reduce((a, e) => a + sizeOf(e), 0) > tableSize) model.pop();
            }
            const out: string[] = [];
            assert.equal(d.decode(Uint8Array.from(bytes), 0, bytes.length, out), true);
            const expected: string[] = [];
            for (const [name, value] of block) expected.push(name, value);
            assert.deepEqual(out, expected);
            assert.equal(d.tableEntries, model.length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('applies a size update at the start of a block and refuses one later or above the bound', () => {
    const d = new HpackDecoder();
    decodeHex(d, '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');
    assert.equal(d.tableEntries, 1);
    assert.deepEqual(decodeHex(d, '20 82'), [[':method', 'GET']], 'size 0 empties the table');
    assert.equal(d.tableEntries, 0);
    const late = Buffer.from('8220', 'hex');
    assert.throws(() => d.decode(late, 0, late.length, []), HpackError);
    const tooBig = Buffer.from('3fe21f', 'hex'); // 4097
    assert.throws(() => d.decode(tooBig, 0, tooBig.length, []), HpackError);
  });

  it('refuses index 0, an index beyond the table, cut strings and integers, bad Huffman', () => {
    for (const h of ['80', 'be', '4005 61', '41', 'ff', '408161 81ff', '3f']) {
      const b = Buffer.from(h.replace(/\s+/g, ''), 'hex');
      assert.throws(() => new HpackDecoder().decode(b, 0, b.length, []), HpackError, h);
    }
  });

  it('drops the fields beyond the header list bound but keeps the table in step', () => {
    const d = new HpackDecoder(4096, 100);
    const bytes: number[] = [];
    encodeInteger(0, 6, 0x40, bytes); // with indexing: x: (60 bytes), counted 93
    encodeInteger(1, 7, 0, bytes);
    bytes.push(0x78);
    encodeInteger(60, 7, 0, bytes);
    bytes.push(...Buffer.alloc(60, 0x61));
    encodeLiteral('y', 'z', bytes); // 34 more: over 100
    const out: string[] = [];
    assert.equal(d.decode(Uint8Array.from(bytes), 0, bytes.length, out), false);
    assert.deepEqual(out, ['x', 'a'.repeat(60)]);
    assert.equal(d.tableEntries, 1);
    const next = Buffer.from('be', 'hex');
    const again: string[] = [];
    assert.equal(d.decode(next, 0, next.length, again), true);
    assert.deepEqual(again, ['x', 'a'.repeat(60)]);
  });

  it('evicts every entry for an entry larger than the table, which is not added', () => {
    const d = new HpackDecoder(100);
    decodeHex(d, '4001 6101 62'); // a: b, 34 bytes
    assert.equal(d.tableEntries, 1);
    const bytes: number[] = [];
    encodeInteger(0, 6, 0x40, bytes);
    encodeInteger(1, 7, 0, bytes);
    bytes.push(0x63);
    encodeInteger(80, 7, 0, bytes);
    bytes.push(...Buffer.alloc(80, 0x64));
    const out: string[] = [];
    d.decode(Uint8Array.from(bytes), 0, bytes.length, out);
    assert.equal(out[1], 'd'.repeat(80));
    assert.equal(d.tableEntries, 0);
    assert.equal(d.tableBytes, 0);
  });
});
