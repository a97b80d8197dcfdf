// Entry point of the checker: split the history with the model's partition() (P-compositionality:
// a history is linearizable iff every per-key sub-history is), search each part with a time
// budget, and turn the outcome into a verdict plus, on a violation, a report a person can read.
import { type SearchOutcome, searchPartition } from './search.ts';
import type { Model, Operation, Verdict } from './types.ts';
import { buildViolationReport, type ViolationReport } from './violation.ts';

export interface CheckOptions {
  /** Time budget for each partition; past it the partition (and so the history) is 'unknown'. Default 10 000. */
  readonly budgetMsPerPartition?: number;
  /** Clock in milliseconds; default performance.now. Inject one to keep a simulation deterministic. */
  readonly now?: () => number;
  /** Bound on memoised configurations per partition (memory); past it the partition is 'unknown'. */
  readonly memoEntriesMax?: number;
}

export interface PartitionResult {
  /** Index in the model's partition() output. */
  readonly index: number;
  readonly verdict: Verdict;
  readonly operations: number;
  readonly elapsedMs: number;
  /** Why the verdict is 'unknown': the time budget, the memo bound, or not checked (a smaller part failed). */
  readonly unknownReason?: 'budget' | 'memo-full' | 'skipped';
}

export interface CheckResult<I = unknown, O = unknown> {
  readonly verdict: Verdict;
  /** One per partition, in partition() order. */
  readonly partitions: readonly PartitionResult[];
  /** Present iff the verdict is 'not linearizable': the smallest failing partition. */
  readonly violation?: ViolationReport<I, O>;
}

const DEFAULT_BUDGET_MS = 10_000;
/** About 20 bytes per entry for a history of under 100 operations per partition: ~100 MB. */
const DEFAULT_MEMO_ENTRIES_MAX = 5_000_000;

export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  opts: CheckOptions = {},
): CheckResult<I, O> {
  const budgetMs = opts.budgetMsPerPartition ?? DEFAULT_BUDGET_MS;
  if (!(budgetMs > 0)) throw new Error(`checkOperations: budgetMsPerPartition must be > 0, got ${budgetMs}`);
  const now = opts.now ?? (() => performance.now());
  const memoEntriesMax = opts.memoEntriesMax ?? DEFAULT_MEMO_ENTRIES_MAX;
  const parts = model.partition === undefined ? [ops.slice()] : model.partition(ops);
  assertPartitionCovers(parts, ops.length);
  // Smallest first: the first failure is then the smallest failing partition, and the rest need not run.
  const order = parts.map((_, i) => i).sort((a, b) => parts[a]!.length - parts[b]!.length || a - b);
  const results: PartitionResult[] = [];
  let violation: ViolationReport<I, O> | undefined;
  for (const index of order) {
    const part = parts[index]!;
    if (violation !== undefined) {
      results.push({
        index,
        verdict: 'unknown',
        operations: part.length,
        elapsedMs: 0,
        unknownReason: 'skipped',
      });
      continue;
    }
    const startMs = now();
    const outcome = searchPartition(model, part, { now, deadlineMs: startMs + budgetMs, memoEntriesMax });
    results.push(partitionResult(index, part.length, now() - startMs, outcome));
    if (outcome.verdict === 'not linearizable') {
      violation = buildViolationReport(model, part, index, outcome.longest);
    }
  }
  results.sort((a, b) => a.index - b.index);
  const verdict: Verdict =
    violation !== undefined
      ? 'not linearizable'
      : results.some((r) => r.verdict === 'unknown')
        ? 'unknown'
        : 'linearizable';
  return violation === undefined
    ? { verdict, partitions: results }
    : { verdict, partitions: results, violation };
}

function partitionResult(
  index: number,
  operations: number,
  elapsedMs: number,
  o: SearchOutcome,
): PartitionResult {
  if (o.verdict === 'unknown')
    return { index, verdict: o.verdict, operations, elapsedMs, unknownReason: o.reason };
  return { index, verdict: o.verdict, operations, elapsedMs };
}

function assertPartitionCovers(parts: readonly (readonly unknown[])[], total: number): void {
  const sum = parts.reduce((acc, p) => acc + p.length, 0);
  if (sum !== total) throw new Error(`model.partition returned ${sum} operations in all, expected ${total}`);
}
