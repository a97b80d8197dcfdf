// Where a command's value comes from: the VALUE argument (UTF-8 text, or hex digits with --hex),
// standard input (VALUE is `-`) or a file (--value-file). Standard input and files are taken byte
// for byte, even with --hex (hex is for arguments, which cannot carry arbitrary bytes): a final
// newline is part of the value, so `printf %s v | ringkv put k -` stores "v" and `echo v | …` "v\n".
// What is read is bounded by VALUE_INPUT_BYTES_MAX, well above any node's value limit, so a
// mistaken pipe cannot exhaust memory; the node then refuses a value over its own --max_value_bytes.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Command } from 'commander';
import type { BytesLike } from '../../client/index.ts';
import { argBytes, type ConnectionOptions, usageError } from './client-common.ts';

/** Most bytes read from standard input or a file for one value (the default node limit is 1 MiB). */
export const VALUE_INPUT_BYTES_MAX = 64 * 1024 * 1024;

/** The value of `put` / `cas`: exactly one of VALUE, `-` or --value-file; anything else is a usage error (exit 2). */
export async function valueFromInput(
  value: string | undefined,
  opts: Record<string, unknown>,
  conn: ConnectionOptions,
  cmd: Command,
): Promise<BytesLike> {
  const file = typeof opts.valueFile === 'string' ? opts.valueFile : undefined;
  if (file !== undefined && value !== undefined) {
    usageError(
      cmd,
      value === '-'
        ? 'the value comes from standard input (-) or from --value-file, not both'
        : `the value is given twice: as ${JSON.stringify(value)} and with --value-file; give one`,
    );
  }
  if (file !== undefined) return readValueFile(file, cmd);
  if (value === '-') return readStdin(cmd);
  if (value === undefined) {
    usageError(cmd, 'give the value: VALUE, - to read it from standard input, or --value-file FILE');
  }
  return argBytes(value, 'VALUE', conn, cmd);
}

function tooLarge(what: string): string {
  return `${what} is over ${VALUE_INPUT_BYTES_MAX / (1024 * 1024)} MiB; a node refuses values over its --max_value_bytes (1 MiB by default)`;
}

function readValueFile(path: string, cmd: Command): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    usageError(cmd, `--value-file: cannot open ${JSON.stringify(path)}: ${errorText(e)}`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) usageError(cmd, `--value-file: ${JSON.stringify(path)} is a directory`);
    if (stat.size > VALUE_INPUT_BYTES_MAX) usageError(cmd, `--value-file: ${tooLarge(JSON.stringify(path))}`);
    return readAll(fd, cmd, `--value-file: ${JSON.stringify(path)}`);
  } finally {
    closeSync(fd);
  }
}

/** Reads `fd` to its end (a file may grow while it is read, or be a FIFO: the bound still holds). */
function readAll(fd: number, cmd: Command, what: string): Uint8Array {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(256 * 1024);
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      usageError(cmd, `${what}: cannot read: ${errorText(e)}`);
    }
    if (n === 0) break;
    total += n;
    if (total > VALUE_INPUT_BYTES_MAX) usageError(cmd, tooLarge(what));
    chunks.push(chunk.subarray(0, n));
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

async function readStdin(cmd: Command): Promise<Uint8Array> {
  if (process.stdin.isTTY === true) {
    process.stderr.write('reading the value from standard input; end it with Ctrl+D\n');
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += b.length;
    if (total > VALUE_INPUT_BYTES_MAX) usageError(cmd, tooLarge('standard input'));
    chunks.push(b);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
