// The clauses of `ringkv txn`: each --if is a compare, each --then / --else an operation.
//
//   --if 'KEY = VALUE'              the key exists with exactly this value
//   --if 'version(KEY) OP N'        OP one of = != < >  (a missing key has version 0)
//   --if 'exists(KEY)'  --if 'absent(KEY)'
//   --then 'put KEY VALUE'  --then 'get KEY'  --then 'del KEY'   (the same for --else)
//
// A key or value is a run of characters without spaces, or a JSON string in double quotes
// ("a b", "say \"hi\""), for spaces, quotes and parentheses. With --hex every key and value is
// hex digits. The same transaction may come as a JSON document on standard input instead (`txn -`,
// see parseTxnJson). Pure: the command's code (txn.ts) prints and sends.
import type { BytesLike, TxnCompare, TxnOperation, TxnSpec, VersionCmp } from '../../client/index.ts';

/** A clause that does not parse: the message says which clause and what is expected. */
export class TxnSyntaxError extends Error {
  override readonly name = 'TxnSyntaxError';
}

/** Most clauses of one kind: the cluster's bound on compares and on each branch's operations. */
export const TXN_CLAUSES_MAX = 128;

/** Turns command-line key and value text into bytes (hex with --hex); throws on bad text. */
export type BytesOf = (text: string, what: string) => BytesLike;

/** Splits a clause into words: runs of non-space characters, or JSON strings in double quotes. */
export function words(clause: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < clause.length) {
    if (/\s/.test(clause[i] as string)) {
      i++;
      continue;
    }
    if (clause[i] === '"') {
      const end = closingQuote(clause, i);
      out.push(JSON.parse(clause.slice(i, end + 1)) as string);
      i = end + 1;
    } else {
      const start = i;
      while (i < clause.length && !/\s/.test(clause[i] as string)) i++;
      out.push(clause.slice(start, i));
    }
  }
  return out;
}

function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  throw new TxnSyntaxError(`unclosed " in ${JSON.stringify(text)}`);
}

/** One word inside `name(…)`: a JSON string or the bare text. */
function inner(text: string): string {
  const t = text.trim();
  if (t.startsWith('"')) {
    const w = words(t);
    if (w.length !== 1) throw new TxnSyntaxError(`expected one key in ${JSON.stringify(text)}`);
    return w[0] as string;
  }
  return t;
}

const CMPS: readonly VersionCmp[] = ['=', '!=', '<', '>'];

export function parseCompare(clause: string, bytes: BytesOf): TxnCompare {
  const c = clause.trim();
  const version = /^version\((.*)\)\s*(=|!=|<|>)\s*(\S+)$/s.exec(c);
  if (version !== null) {
    const [, key = '', cmp = '', n = ''] = version;
    if (!/^\d+$/.test(n))
      throw new TxnSyntaxError(`--if ${JSON.stringify(clause)}: version ${n} is not a whole number`);
    if (!CMPS.includes(cmp as VersionCmp)) throw new TxnSyntaxError(`--if ${JSON.stringify(clause)}: ${cmp}`);
    return { key: bytes(inner(key), 'key'), version: BigInt(n), cmp: cmp as VersionCmp };
  }
  const exists = /^(exists|absent)\((.*)\)$/s.exec(c);
  if (exists !== null) return { key: bytes(inner(exists[2] ?? ''), 'key'), exists: exists[1] === 'exists' };
  const w = words(c);
  if (w.length === 3 && w[1] === '=')
    return { key: bytes(w[0] as string, 'key'), value: bytes(w[2] as string, 'value') };
  throw new TxnSyntaxError(
    `--if ${JSON.stringify(clause)}: expected 'KEY = VALUE', 'version(KEY) OP N' (OP one of = != < >), 'exists(KEY)' or 'absent(KEY)'`,
  );
}

export function parseOperation(clause: string, flag: '--then' | '--else', bytes: BytesOf): TxnOperation {
  const w = words(clause);
  const [verb, key, value] = w;
  if (verb === 'put' && w.length === 3)
    return { put: bytes(key as string, 'key'), value: bytes(value as string, 'value') };
  if (verb === 'get' && w.length === 2) return { get: bytes(key as string, 'key') };
  if ((verb === 'del' || verb === 'delete') && w.length === 2) return { delete: bytes(key as string, 'key') };
  throw new TxnSyntaxError(
    `${flag} ${JSON.stringify(clause)}: expected 'put KEY VALUE', 'get KEY' or 'del KEY'`,
  );
}

/** The clauses as given: --if (compares), --then (success), --else (failure). */
export interface TxnClauses {
  readonly compares: readonly string[];
  readonly success: readonly string[];
  readonly failure: readonly string[];
}

/** The transaction of --if, --then and --else clauses. */
export function parseTxnClauses(clauses: TxnClauses, bytes: BytesOf): TxnSpec {
  for (const [flag, list] of [
    ['--if', clauses.compares],
    ['--then', clauses.success],
    ['--else', clauses.failure],
  ] as const) {
    if (list.length > TXN_CLAUSES_MAX)
      throw new TxnSyntaxError(`${list.length} ${flag} clauses: at most ${TXN_CLAUSES_MAX}`);
  }
  return {
    compares: clauses.compares.map((c) => parseCompare(c, bytes)),
    success: clauses.success.map((c) => parseOperation(c, '--then', bytes)),
    failure: clauses.failure.map((c) => parseOperation(c, '--else', bytes)),
  };
}

/**
 * The transaction as a JSON document: {"if": [CLAUSE…], "then": [CLAUSE…], "else": [CLAUSE…]},
 * each clause in the syntax of the flags (all three lists optional).
 */
export function parseTxnJson(text: string, bytes: BytesOf): TxnSpec {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TxnSyntaxError(`standard input is not JSON: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new TxnSyntaxError('standard input: expected a JSON object {"if": […], "then": […], "else": […]}');
  const d = doc as Record<string, unknown>;
  const unknown = Object.keys(d).filter((k) => !['if', 'then', 'else'].includes(k));
  if (unknown.length > 0)
    throw new TxnSyntaxError(
      `standard input: unknown field(s) ${unknown.join(', ')}; expected if, then, else`,
    );
  const list = (name: string): string[] => {
    const v = d[name] ?? [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      throw new TxnSyntaxError(`standard input: "${name}" must be a list of clause strings`);
    return v as string[];
  };
  return parseTxnClauses({ compares: list('if'), success: list('then'), failure: list('else') }, bytes);
}
