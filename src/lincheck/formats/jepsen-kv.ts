// Parser for the Jepsen KV logs of porcupine's test_data/kv/cNN-{ok,bad}.txt, one EDN map per line:
//   {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
// A line starting with `{` is an event and must parse completely (else HistoryFormatError with its
// line number); other lines are ignored.
//   :invoke :get (:value nil), :put / :append (:value "<string>")   a call
//   :ok :get :value "<string>", :ok :put / :append (same value)     a return
//   :info                                                           ignored: the call stays open to the end
//   :fail                                                           Jepsen's "definitely did not happen": dropped
// A get's output is { found: true, value }; the jepsen-kv model (stringKvModel) ignores `found`.
import type { KvInput, KvOutput } from '../types.ts';
import { type EdnValue, readEdnMap } from './edn-map.ts';
import { HistoryBuilder, type ParsedHistory } from './history-builder.ts';

const FUNCTIONS = new Set([':get', ':put', ':append']);
const LINES_MAX = 10_000_000;

type Builder = HistoryBuilder<KvInput, KvOutput>;

export function parseJepsenKv(text: string, file = '<input>'): ParsedHistory<KvInput, KvOutput> {
  const builder: Builder = new HistoryBuilder(file);
  const lines = text.split(/\r?\n/);
  if (lines.length > LINES_MAX) throw builder.error(LINES_MAX + 1, `more than ${LINES_MAX} lines`);
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('{')) parseEvent(builder, trimmed, i + 1);
  });
  return builder.build();
}

function parseEvent(b: Builder, text: string, line: number): void {
  const map = readEdnMap(text);
  if (typeof map === 'string') throw b.error(line, map);
  const process = map.get(':process');
  if (!(typeof process === 'number' && process >= 0))
    throw b.error(line, ':process must be a non-negative integer');
  const type = keywordOf(map.get(':type'));
  const f = keywordOf(map.get(':f'));
  if (f === undefined || !FUNCTIONS.has(f)) throw b.error(line, ':f must be :get, :put or :append');
  const key = map.get(':key');
  if (typeof key !== 'string') throw b.error(line, ':key must be a string');
  const value = map.get(':value');
  switch (type) {
    case ':invoke':
      b.invoke(process, f, parseInput(b, f, key, value, line), line);
      return;
    case ':ok': {
      const call = b.openCall(process, f, line);
      if (call.input.key !== key)
        throw b.error(line, `:key "${key}" differs from its invocation's "${call.input.key}"`);
      b.complete(process, f, parseOutput(b, call.input, value, line), line);
      return;
    }
    case ':info':
      b.leaveOpen(process, f, line);
      return;
    case ':fail':
      b.drop(process, f, line);
      return;
    default:
      throw b.error(line, ':type must be :invoke, :ok, :fail or :info');
  }
}

function keywordOf(value: EdnValue | undefined): string | undefined {
  return value !== null && typeof value === 'object' ? value.keyword : undefined;
}

function parseInput(b: Builder, f: string, key: string, value: EdnValue | undefined, line: number): KvInput {
  if (f === ':get') {
    if (value !== null && value !== undefined) throw b.error(line, ':invoke :get takes :value nil');
    return { kind: 'get', key };
  }
  if (typeof value !== 'string') throw b.error(line, `:invoke ${f} takes a string :value`);
  return f === ':put' ? { kind: 'put', key, value } : { kind: 'append', key, value };
}

function parseOutput(b: Builder, input: KvInput, value: EdnValue | undefined, line: number): KvOutput {
  if (input.kind === 'get') {
    if (typeof value !== 'string') throw b.error(line, ':ok :get must return a string :value');
    return { kind: 'get', found: true, value };
  }
  if (input.kind !== 'put' && input.kind !== 'append')
    throw new Error(`jepsen-kv: unexpected input ${input.kind}`);
  if (value !== input.value) throw b.error(line, `:ok :${input.kind} :value differs from its invocation's`);
  return { kind: input.kind };
}
