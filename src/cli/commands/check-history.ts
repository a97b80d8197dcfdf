// `ringkv check-history --format etcd-log|jepsen-kv FILE…`: one verdict line per file.
// Exit status: 0 all linearizable; 1 some not linearizable (and none unknown); 2 some unknown,
// unreadable or malformed, or a bad option. User errors print a message, never a stack trace.
import { readFile } from 'node:fs/promises';
import {
  type CheckResult,
  checkOperations,
  formatViolation,
  HistoryFormatError,
  type Operation,
  type OperationLines,
  type ParsedHistory,
  parseEtcdLog,
  parseJepsenKv,
  registerModel,
  stringKvModel,
} from '../../lincheck/index.ts';

const FORMATS = ['etcd-log', 'jepsen-kv'] as const;
type Format = (typeof FORMATS)[number];

const EXIT_LINEARIZABLE = 0;
const EXIT_VIOLATION = 1;
const EXIT_UNKNOWN = 2;

type FileVerdict = 'linearizable' | 'not linearizable' | 'unknown';

export async function runCheckHistoryCommand(
  files: string[],
  opts: Record<string, unknown>,
): Promise<number> {
  const format = opts.format;
  if (!isFormat(format)) {
    console.error(`error: unknown --format '${String(format)}': expected one of ${FORMATS.join(', ')}`);
    return EXIT_UNKNOWN;
  }
  const budgetText = String(opts.budgetMs ?? '10000');
  const budgetMs = Number(budgetText);
  if (!(/^\d+$/.test(budgetText) && budgetMs > 0)) {
    console.error(`error: --budget-ms must be a positive integer (milliseconds), got '${budgetText}'`);
    return EXIT_UNKNOWN;
  }
  if (files.length === 0) {
    console.error('error: no history files given');
    return EXIT_UNKNOWN;
  }
  const verdicts: FileVerdict[] = [];
  for (const file of files) verdicts.push(await checkFile(file, format, budgetMs));
  if (verdicts.includes('unknown')) return EXIT_UNKNOWN;
  return verdicts.includes('not linearizable') ? EXIT_VIOLATION : EXIT_LINEARIZABLE;
}

function isFormat(value: unknown): value is Format {
  return typeof value === 'string' && (FORMATS as readonly string[]).includes(value);
}

async function checkFile(file: string, format: Format, budgetMs: number): Promise<FileVerdict> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    console.log(`${file}: error: cannot read the file (${describeIoError(err)})`);
    return 'unknown';
  }
  try {
    const { result, lines, operations } = check(text, file, format, budgetMs);
    const contentLines = text.split('\n').filter((l) => l.trim() !== '').length;
    if (operations === 0 && contentLines > 0) {
      // Lines that are not events are ignored, so a file in another format reads as an empty history.
      console.log(
        `${file}: error: no ${format} events in ${contentLines} non-empty line(s); is --format right?`,
      );
      return 'unknown';
    }
    console.log(`${file}: ${result.verdict}`);
    for (const line of detailLines(result, lines)) console.log(`  ${line}`);
    return result.verdict;
  } catch (err) {
    if (!(err instanceof HistoryFormatError)) throw err;
    console.log(`${file}: error: line ${err.line}: ${err.reason}`);
    return 'unknown';
  }
}

interface FileCheck {
  readonly result: CheckResult;
  readonly operations: number;
  /** Where each operation is in the file, for the report. */
  readonly lines: Map<Operation<unknown, unknown>, OperationLines>;
}

function check(text: string, file: string, format: Format, budgetMs: number): FileCheck {
  const opts = { budgetMsPerPartition: budgetMs };
  if (format === 'etcd-log') {
    const parsed = parseEtcdLog(text, file);
    return checked(checkOperations(registerModel, parsed.operations, opts), parsed);
  }
  const parsed = parseJepsenKv(text, file);
  return checked(checkOperations(stringKvModel, parsed.operations, opts), parsed);
}

function checked<I, O>(result: CheckResult<I, O>, parsed: ParsedHistory<I, O>): FileCheck {
  return { result, operations: parsed.operations.length, lines: linesOf(parsed) };
}

function linesOf<I, O>(parsed: ParsedHistory<I, O>): Map<Operation<unknown, unknown>, OperationLines> {
  return new Map(parsed.operations.map((op, i) => [op, parsed.lines[i]!]));
}

function detailLines(result: CheckResult, lines: FileCheck['lines']): string[] {
  if (result.verdict === 'unknown') {
    const stuck = result.partitions.filter((p) => p.verdict === 'unknown');
    const ops = stuck.map((p) => p.operations).join(', ');
    return [
      `gave up on ${stuck.length} of ${result.partitions.length} partition(s) (operations: ${ops}); raise --budget-ms`,
    ];
  }
  if (result.violation === undefined) return [];
  const when = (op: Operation<unknown, unknown>): string => {
    const at = lines.get(op);
    if (at === undefined) return '';
    return at.returnLine === undefined ? `line ${at.callLine}-open` : `lines ${at.callLine}-${at.returnLine}`;
  };
  return formatViolation(result.violation, { prefixLinesMax: 3, concurrentLinesMax: 6, when });
}

function describeIoError(err: unknown): string {
  if (err instanceof Error && 'code' in err) {
    const code = String(err.code);
    if (code === 'ENOENT') return 'no such file';
    if (code === 'EISDIR') return 'it is a directory';
    if (code === 'EACCES') return 'permission denied';
    return code;
  }
  return String(err);
}
