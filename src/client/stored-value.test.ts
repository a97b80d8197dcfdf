// text() and json() on a stored value: what they decode, the errors that name the key, and that the
// helpers leave the result a plain object (compared, serialised and spread as before).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingkvError } from './errors.ts';
import { ValueFormatError, withDecoding } from './stored-value.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

function found(key: string, value: Uint8Array) {
  return withDecoding({ found: true, value, version: 7n }, { key: bytes(key), value });
}

test('text() decodes UTF-8 and json() parses it', () => {
  assert.equal(found('k', bytes('héllo ✓')).text(), 'héllo ✓');
  const doc = found('k', bytes('{"n":1,"tags":["a"]}')).json<{ n: number; tags: string[] }>();
  assert.deepEqual(doc, { n: 1, tags: ['a'] });
  assert.equal(found('k', new Uint8Array()).text(), '');
});

test('text() refuses bytes that are not UTF-8, naming the key', () => {
  const r = found('users/42', new Uint8Array([0x61, 0xff, 0xfe]));
  assert.throws(
    () => r.text(),
    (e: unknown) =>
      e instanceof ValueFormatError &&
      e instanceof RingkvError &&
      e.code === 'VALUE_FORMAT' &&
      /key "users\/42" is not valid UTF-8 text \(3 bytes\)/.test(e.message),
  );
  assert.throws(() => r.json(), /key "users\/42" is not valid UTF-8/);
});

test('json() refuses text that is not JSON, naming the key and keeping the parser error as cause', () => {
  const r = found('cfg', bytes('{not json'));
  assert.throws(
    () => r.json(),
    (e: unknown) =>
      e instanceof ValueFormatError &&
      /the value of key "cfg" is not JSON: /.test(e.message) &&
      e.cause instanceof SyntaxError,
  );
});

test('a key that is not text is shown in hex; a long one is cut short', () => {
  const binary = withDecoding({}, { key: new Uint8Array([0x00, 0xff]), value: bytes('{') });
  assert.throws(() => binary.json(), /key 0x00ff is not JSON/);
  const long = withDecoding({}, { key: bytes('x'.repeat(100)), value: bytes('{') });
  assert.throws(() => long.json(), new RegExp(`key "${'x'.repeat(64)}"… is not JSON`));
});

test('an absent key has no value to decode', () => {
  const r = withDecoding({ found: false }, { key: bytes('gone'), absent: true });
  assert.throws(() => r.text(), /key "gone" does not exist/);
  assert.throws(() => r.json(), /key "gone" does not exist/);
});

test('the helpers are not data: the result compares, serialises and spreads as the plain object', () => {
  const value = bytes('v');
  const r = found('k', value);
  assert.deepStrictEqual(r, { found: true, value, version: 7n });
  assert.deepEqual(Object.keys(r), ['found', 'value', 'version']);
  assert.equal(JSON.stringify({ ...r, version: 1 }), JSON.stringify({ found: true, value, version: 1 }));
  assert.equal('text' in { ...r }, false);
});
