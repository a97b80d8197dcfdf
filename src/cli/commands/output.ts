// --output: every command that prints a result takes `--output json` (one JSON document on stdout,
// the same exit status as the text). Errors stay on stderr in either format; with json, a failure
// that ends the command also puts {"error": {"code", "message"}} on stdout, so that a script
// reading stdout always gets one document. Usage errors (exit 2) are commander's: stderr only.
import { Option } from 'commander';
import { toJson } from './client-common.ts';

/** The --output option: `text` (or `table` where the text is a table) and `json`. */
export function outputOption(textName: 'text' | 'table' = 'text'): Option {
  const what = textName === 'table' ? 'a table' : 'text';
  return new Option('--output <format>', `${what}, or json (one document on stdout)`)
    .choices([textName, 'json'])
    .default(textName);
}

export function wantsJson(opts: Record<string, unknown>): boolean {
  return opts.output === 'json';
}

/** Writes `value` as the command's one JSON document. */
export function printJson(value: unknown): void {
  process.stdout.write(`${toJson(value)}\n`);
}

/**
 * A failure that ends the command: `message` on stderr as `prefix` + message (the text output's
 * line), and with --output json the error document on stdout too.
 */
export function reportFailure(
  opts: Record<string, unknown>,
  code: string,
  message: string,
  prefix = 'error: ',
): void {
  process.stderr.write(`${prefix}${message}\n`);
  if (wantsJson(opts)) printJson({ error: { code, message } });
}
