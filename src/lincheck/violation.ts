// What a "not linearizable" verdict shows a person: where the search got stuck. The longest
// linearizable prefix it found, the state after it, the first operation that could not be
// linearized (its response came before any legal place for it), and the operations that were
// concurrent with that one (the only candidates for going before it).
import type { LongestPrefix } from './search.ts';
import type { Model, Operation } from './types.ts';

export interface ReportedOperation<I = unknown, O = unknown> {
  readonly operation: Operation<I, O>;
  /** The model's rendering, e.g. `write(4) -> ok`. */
  readonly description: string;
}

export interface ViolationReport<I = unknown, O = unknown> {
  readonly modelName: string;
  /** Index of the partition in the model's partition() output. */
  readonly partitionIndex: number;
  readonly partitionOperations: number;
  /** The longest linearizable prefix found, in linearization order. */
  readonly prefix: readonly ReportedOperation<I, O>[];
  /** Model state key after the prefix. */
  readonly stateAfterPrefix: string;
  /** The first operation that could not be linearized after the prefix. */
  readonly blocked: ReportedOperation<I, O>;
  /** Operations outside the prefix called before `blocked` returned (by call time). */
  readonly concurrent: readonly ReportedOperation<I, O>[];
}

export function buildViolationReport<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  partitionIndex: number,
  longest: LongestPrefix,
): ViolationReport<I, O> {
  const report = (op: Operation<I, O>): ReportedOperation<I, O> => ({
    operation: op,
    description: describe(model, op),
  });
  const blocked = ops[longest.blocked];
  if (blocked === undefined)
    throw new Error(`violation: blocked operation ${longest.blocked} of ${ops.length}`);
  const inPrefix = new Set(longest.prefix);
  const concurrent = ops
    .filter((op, i) => !inPrefix.has(i) && i !== longest.blocked && op.callTime <= blocked.returnTime)
    .sort((a, b) => a.callTime - b.callTime);
  return {
    modelName: model.name,
    partitionIndex,
    partitionOperations: ops.length,
    prefix: longest.prefix.map((i) => report(ops[i]!)),
    stateAfterPrefix: longest.stateKey,
    blocked: report(blocked),
    concurrent: concurrent.map(report),
  };
}

function describe<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  if (model.describeOperation !== undefined) return model.describeOperation(op.input, op.output);
  const output = op.output === undefined ? '?' : JSON.stringify(op.output);
  return `${JSON.stringify(op.input)} -> ${output}`;
}

export interface FormatViolationOptions {
  /** How many operations at the end of the prefix to show (default 5). */
  readonly prefixLinesMax?: number;
  /** How many concurrent operations to show (default 10). */
  readonly concurrentLinesMax?: number;
  /** Renders where an operation happened; default `t=call..return` (e.g. file line numbers instead). */
  readonly when?: (op: Operation<unknown, unknown>) => string;
}

/** Readable lines, no trailing newlines, no indentation of the first line. */
export function formatViolation(report: ViolationReport, options: FormatViolationOptions = {}): string[] {
  const prefixMax = options.prefixLinesMax ?? 5;
  const concurrentMax = options.concurrentLinesMax ?? 10;
  const when = options.when ?? defaultWhen;
  const line = (r: ReportedOperation) =>
    `    client ${r.operation.clientId}  ${when(r.operation)}  ${r.description}`;
  const lines = [
    `${report.modelName} partition ${report.partitionIndex} (${report.partitionOperations} operations): ` +
      `no linearization after ${report.prefix.length} operations`,
  ];
  const shown = report.prefix.slice(Math.max(0, report.prefix.length - prefixMax));
  const hidden = report.prefix.length - shown.length;
  lines.push(`  last linearized${hidden > 0 ? ` (${hidden} earlier not shown)` : ''}:`);
  if (shown.length === 0) lines.push('    (none)');
  for (const r of shown) lines.push(line(r));
  lines.push(`  state then: ${report.stateAfterPrefix}`);
  lines.push('  cannot be linearized:', line(report.blocked));
  const concurrent = report.concurrent.slice(0, concurrentMax);
  const more = report.concurrent.length - concurrent.length;
  lines.push(`  concurrent with it${more > 0 ? ` (${more} more not shown)` : ''}:`);
  if (concurrent.length === 0) lines.push('    (none)');
  for (const r of concurrent) lines.push(line(r));
  return lines;
}

function defaultWhen(op: Operation<unknown, unknown>): string {
  const ret = Number.isFinite(op.returnTime) ? String(op.returnTime) : 'open';
  return `t=${op.callTime}..${ret}`;
}
