import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CODES, HuffmanError, huffmanDecode, huffmanEncode, huffmanLength } from './huffman.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const decode = (h: string) => {
  const b = Buffer.from(h, 'hex');
  return huffmanDecode(b, 0, b.length);
};

describe('HPACK Huffman code', () => {
  it('derives the codes RFC 7541 Appendix B prints', () => {
    // A sample across lengths: (symbol, code as printed, right-aligned).
    const printed: [number, number][] = [
      [0, 0x1ff8],
      [1, 0x7fffd8],
      [10, 0x3ffffffc],
      [32, 0x14],
      [48, 0x0],
      [97, 0x3],
      [116, 0x9],
      [127, 0xffffffc],
      [128, 0xfffe6],
      [200, 0x3ffffe2],
      [255, 0x3ffffee],
      [256, 0x3fffffff],
    ];
    for (const [sym, code] of printed) assert.equal(CODES[sym], code, `symbol ${sym}`);
  });

  it('encodes and decodes the examples of RFC 7541 Appendix C.4 and C.6', () => {
    const examples: [string, string][] = [
      ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
      ['no-cache', 'a8eb10649cbf'],
      ['custom-key', '25a849e95ba97d7f'],
      ['custom-value', '25a849e95bb8e8b4bf'],
      ['302', '6402'],
      ['private', 'aec3771a4b'],
      ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07abe941054d444a8200595040b8166e082a62d1bff'],
      ['https://www.example.com', '9d29ad171863c78f0b97c8e9ae82ae43d3'],
      ['gzip', '9bd9ab'],
    ];
    for (const [text, coded] of examples) {
      assert.equal(hex(huffmanEncode(text)), coded, text);
      assert.equal(huffmanLength(text), coded.length / 2, text);
      assert.equal(decode(coded), text, text);
    }
    assert.equal(decode(''), '');
  });

  it('round-trips any octets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const s = Buffer.from(bytes).toString('latin1');
        const coded = huffmanEncode(s);
        assert.equal(huffmanDecode(coded, 0, coded.length), s);
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes a slice of a larger buffer', () => {
    const coded = huffmanEncode('/ringkv.v1.KV/Put');
    const framed = Buffer.concat([Buffer.from([1, 2, 3]), coded, Buffer.from([4])]);
    assert.equal(huffmanDecode(framed, 3, 3 + coded.length), '/ringkv.v1.KV/Put');
  });

  it('refuses padding of zeros, padding of 8 bits or more, and EOS inside the string', () => {
    // 'a' is 00011 (5 bits): padded with 111 it is 0x1f; with 000, 0x18.
    assert.equal(decode('1f'), 'a');
    assert.throws(() => decode('18'), HuffmanError);
    assert.throws(() => decode('1fff'), HuffmanError, 'a whole byte of padding');
    assert.throws(() => decode('ff'), HuffmanError, 'padding alone, 8 bits');
    assert.throws(() => decode('fffffffc'), HuffmanError, 'EOS (30 ones) then padding');
    assert.throws(() => decode('fe'), HuffmanError, 'a byte that stops inside a longer code');
  });
});
