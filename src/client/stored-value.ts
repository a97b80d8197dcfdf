// Reading a stored value as text or JSON: the helpers on a found GetResult, a ScanItem and a
// CasResult. Values are bytes on the wire; these decode them on demand and, when the bytes are not
// what the caller expected, throw an error that names the key (a bad value found among thousands
// scanned must be findable).
import { bytesToUtf8, isValidUtf8 } from './bytes.ts';
import { RingkvError } from './errors.ts';

export interface ValueDecoding {
  /** The value as UTF-8 text; throws ValueFormatError when it is not valid UTF-8. */
  text(): string;
  /**
   * The value parsed as JSON (UTF-8 text first); throws ValueFormatError when it is not. The result
   * is not checked against `T`: validate it when the data may come from elsewhere.
   */
  json<T = unknown>(): T;
}

/** A stored value is not the UTF-8 text or the JSON that text() or json() was asked for. */
export class ValueFormatError extends RingkvError {
  override readonly name = 'ValueFormatError';
  override readonly code = 'VALUE_FORMAT';
  /** The key whose value it is (the full key, namespace included). */
  readonly key: Uint8Array;

  constructor(message: string, key: Uint8Array, cause?: unknown) {
    super(message, cause === undefined ? {} : { cause });
    this.key = key;
  }
}

/** Where the value comes from, for the messages: an absent key's helpers say so instead of decoding. */
export type ValueSource =
  | { readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly key: Uint8Array; readonly absent: true };

/**
 * Adds text() and json() to `target`, as non-enumerable properties: a result stays a plain object
 * whose fields compare, print and serialise as before (assert.deepStrictEqual against an object
 * literal, JSON.stringify, console.log), and spreading it copies only the data.
 */
export function withDecoding<T extends object>(target: T, source: ValueSource): T & ValueDecoding {
  const decoding: ValueDecoding = {
    text: () => decodeText(source),
    json: <J>() => decodeJson(source) as J,
  };
  Object.defineProperties(target, {
    text: { value: decoding.text, enumerable: false },
    json: { value: decoding.json, enumerable: false },
  });
  return target as T & ValueDecoding;
}

function decodeText(source: ValueSource): string {
  if ('absent' in source) {
    throw new ValueFormatError(
      `key ${showKey(source.key)} does not exist: it has no value to decode`,
      source.key,
    );
  }
  if (!isValidUtf8(source.value)) {
    throw new ValueFormatError(
      `the value of key ${showKey(source.key)} is not valid UTF-8 text (${source.value.length} bytes); read .value for the bytes`,
      source.key,
    );
  }
  return bytesToUtf8(source.value);
}

function decodeJson(source: ValueSource): unknown {
  const text = decodeText(source);
  try {
    return JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ValueFormatError(`the value of key ${showKey(source.key)} is not JSON: ${why}`, source.key, e);
  }
}

/** A key for messages: quoted text when it is UTF-8 (cut short when long), else hex. */
function showKey(key: Uint8Array): string {
  const SHOWN_MAX = 64;
  if (isValidUtf8(key)) {
    const text = bytesToUtf8(key);
    return text.length > SHOWN_MAX ? `${JSON.stringify(text.slice(0, SHOWN_MAX))}…` : JSON.stringify(text);
  }
  const head = key.subarray(0, SHOWN_MAX);
  const hex = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('hex');
  return `0x${hex}${key.length > SHOWN_MAX ? '…' : ''}`;
}
