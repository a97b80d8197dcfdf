// Reads the one EDN shape the Jepsen KV logs use: a flat map on one line, e.g.
//   {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
// Values may be keywords, strings (with \" \\ \n \t escapes), integers or nil. Commas are whitespace.

export type EdnValue = { readonly keyword: string } | string | number | null;

/** Returns the map, or a string saying what is wrong with the text. */
export function readEdnMap(text: string): Map<string, EdnValue> | string {
  const reader: Reader = { text, pos: 0 };
  skipSpace(reader);
  if (text[reader.pos] !== '{') return 'expected { at the start';
  reader.pos++;
  const map = new Map<string, EdnValue>();
  for (let pairs = 0; pairs <= text.length; pairs++) {
    skipSpace(reader);
    if (reader.pos >= text.length) break;
    if (text[reader.pos] === '}') {
      reader.pos++;
      skipSpace(reader);
      return reader.pos === text.length ? map : `unexpected text after } at column ${reader.pos + 1}`;
    }
    const key = readValue(reader);
    if (reader.error !== undefined) return reader.error;
    if (key === null || typeof key !== 'object') return `expected a keyword at column ${reader.pos + 1}`;
    skipSpace(reader);
    const value = readValue(reader);
    if (reader.error !== undefined) return reader.error;
    if (map.has(key.keyword)) return `${key.keyword} appears twice`;
    map.set(key.keyword, value);
  }
  return 'unterminated map: no closing }';
}

interface Reader {
  readonly text: string;
  pos: number;
  error?: string;
}

function skipSpace(r: Reader): void {
  while (r.pos < r.text.length && /[\s,]/.test(r.text[r.pos]!)) r.pos++;
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', r: '\r' };

function readValue(r: Reader): EdnValue {
  const start = r.pos;
  const c = r.text[r.pos];
  if (c === '"') {
    let out = '';
    for (r.pos++; r.pos < r.text.length; r.pos++) {
      const ch = r.text[r.pos]!;
      if (ch === '"') {
        r.pos++;
        return out;
      }
      if (ch === '\\') {
        const escaped = ESCAPES[r.text[++r.pos] ?? ''];
        if (escaped === undefined) return fail(r, `bad escape in string at column ${r.pos + 1}`);
        out += escaped;
      } else {
        out += ch;
      }
    }
    return fail(r, `unterminated string starting at column ${start + 1}`);
  }
  while (r.pos < r.text.length && !/[\s,{}"]/.test(r.text[r.pos]!)) r.pos++;
  const atom = r.text.slice(start, r.pos);
  if (atom === 'nil') return null;
  if (/^-?\d+$/.test(atom)) return Number(atom);
  if (/^:[^\s:]/.test(atom)) return { keyword: atom };
  return fail(
    r,
    atom === '' ? `expected a value at column ${start + 1}` : `cannot read '${atom}' at column ${start + 1}`,
  );
}

function fail(r: Reader, message: string): null {
  r.error = message;
  return null;
}
