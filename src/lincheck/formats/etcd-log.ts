// Parser for the Jepsen etcd CAS-register logs (porcupine's test_data/jepsen/etcd_NNN.log), with the
// rules of src/lincheck/testdata/porcupine/README.md:
//   INFO  jepsen.util - <process> <:invoke|:ok|:fail|:info> <:read|:write|:cas> <value>
// Fields are separated by TABs or runs of spaces. A line that does not start with
// `INFO jepsen.util -` is ignored; one that does and whose next fields are a process number or an
// event type is an event, and must parse completely (else HistoryFormatError with its line number).
//   :invoke :read nil | :write V | :cas [A B]        a call
//   :ok :read nil|V, :ok :write V, :ok/:fail :cas [A B]  a return (:fail :cas = did not apply)
//   :fail :read :timed-out                            a return with an unknown output
//   :info … (and any other :fail)                     ignored: the call stays open to the end
import type { RegisterInput, RegisterOutput } from '../types.ts';
import { HistoryBuilder, type ParsedHistory } from './history-builder.ts';

const PREFIX = /^INFO\s+jepsen\.util\s+-\s+(.*)$/;
const TYPES = new Set([':invoke', ':ok', ':fail', ':info']);
const FUNCTIONS = new Set([':read', ':write', ':cas']);
const INT = /^-?\d+$/;
const PAIR = /^\[\s*(-?\d+)\s+(-?\d+)\s*\]$/;
/** A bound on what one parse may hold (the largest porcupine log has under 200 events). */
const LINES_MAX = 10_000_000;

export function parseEtcdLog(text: string, file = '<input>'): ParsedHistory<RegisterInput, RegisterOutput> {
  const builder = new HistoryBuilder<RegisterInput, RegisterOutput>(file);
  const lines = text.split(/\r?\n/);
  if (lines.length > LINES_MAX) throw builder.error(LINES_MAX + 1, `more than ${LINES_MAX} lines`);
  lines.forEach((raw, i) => {
    const rest = PREFIX.exec(raw.trim())?.[1];
    if (rest === undefined) return;
    const fields = rest.split(/\s+/);
    if (!(INT.test(fields[0] ?? '') || TYPES.has(fields[1] ?? ''))) return;
    parseEvent(builder, fields, i + 1);
  });
  return builder.build();
}

function parseEvent(b: HistoryBuilder<RegisterInput, RegisterOutput>, fields: string[], line: number): void {
  const [processText = '', type = '', f = ''] = fields;
  const value = fields.slice(3).join(' ');
  if (!/^\d+$/.test(processText))
    throw b.error(line, `process must be a non-negative integer, got '${processText}'`);
  const process = Number(processText);
  if (!TYPES.has(type)) throw b.error(line, `event type must be :invoke, :ok, :fail or :info, got '${type}'`);
  if (!FUNCTIONS.has(f)) throw b.error(line, `operation must be :read, :write or :cas, got '${f}'`);
  if (type === ':invoke') {
    b.invoke(process, f, parseInput(b, f, value, line), line);
  } else if (type === ':info') {
    b.leaveOpen(process, f, line);
  } else if (type === ':ok' || f === ':cas') {
    const call = b.openCall(process, f, line);
    b.complete(process, f, parseOutput(b, call.input, type === ':ok', value, line), line);
  } else if (f === ':read' && value === ':timed-out') {
    b.complete(process, f, undefined, line);
  } else {
    // porcupine's parser ignores other failures too: conservatively, the call may still take effect.
    b.leaveOpen(process, f, line);
  }
}

function parseInput(
  b: HistoryBuilder<RegisterInput, RegisterOutput>,
  f: string,
  value: string,
  line: number,
): RegisterInput {
  if (f === ':read') {
    if (value !== 'nil') throw b.error(line, `:invoke :read takes nil, got '${value}'`);
    return { kind: 'read' };
  }
  if (f === ':write') {
    if (!INT.test(value)) throw b.error(line, `:invoke :write takes an integer, got '${value}'`);
    return { kind: 'write', value: Number(value) };
  }
  const pair = PAIR.exec(value);
  if (pair === null) throw b.error(line, `:invoke :cas takes [from to], got '${value}'`);
  return { kind: 'cas', from: Number(pair[1]), to: Number(pair[2]) };
}

function parseOutput(
  b: HistoryBuilder<RegisterInput, RegisterOutput>,
  input: RegisterInput,
  ok: boolean,
  value: string,
  line: number,
): RegisterOutput {
  switch (input.kind) {
    case 'read':
      if (value === 'nil') return { kind: 'read', exists: false, value: 0 };
      if (!INT.test(value)) throw b.error(line, `:ok :read returns nil or an integer, got '${value}'`);
      return { kind: 'read', exists: true, value: Number(value) };
    case 'write':
      if (!INT.test(value) || Number(value) !== input.value)
        throw b.error(line, `:ok :write ${value} completes :write ${input.value}`);
      return { kind: 'write' };
    case 'cas': {
      const pair = PAIR.exec(value);
      if (pair === null || Number(pair[1]) !== input.from || Number(pair[2]) !== input.to) {
        throw b.error(
          line,
          `:cas completion '${value}' does not match its invocation [${input.from} ${input.to}]`,
        );
      }
      return { kind: 'cas', ok };
    }
  }
}
