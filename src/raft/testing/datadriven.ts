// A minimal reader/writer for the "datadriven" transcript format used by etcd's raft tests:
//
//   # comment
//   command arg key=value key=(a,b)
//   optional input lines
//   ----
//   expected output
//   <blank line>
//
// Output that itself contains blank lines is fenced by a doubled separator ("----\n----" before
// and after). Parsing is pure (no file I/O here: the core's folder may not touch node: modules);
// scenario.test.ts reads and rewrites the files.

export interface CmdArg {
  readonly key: string;
  /** Values of key=v or key=(v1,v2); empty for a bare token. */
  readonly vals: readonly string[];
}

export interface TestCase {
  /** "file:line" of the command, for error messages. */
  readonly pos: string;
  /** Raw text before the command (comments, blank lines), kept verbatim on rewrite. */
  readonly leading: string;
  /** The command line and input lines, verbatim. */
  readonly commandText: string;
  readonly cmd: string;
  readonly args: readonly CmdArg[];
  readonly input: string;
  readonly expected: string;
}

export interface ParsedFile {
  readonly cases: readonly TestCase[];
  /** Raw text after the last case (trailing comments), kept on rewrite. */
  readonly trailing: string;
}

const SEP = '----';
const MAX_LINES = 100_000;

/** Splits a command line into tokens; parentheses and double quotes group. */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let cur = '';
  let depth = 0;
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '(') depth++;
    else if (!quoted && ch === ')') depth--;
    if (!quoted && depth === 0 && /\s/.test(ch)) {
      if (cur !== '') tokens.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (quoted || depth !== 0) throw new Error(`unbalanced quotes or parentheses in: ${line}`);
  if (cur !== '') tokens.push(cur);
  return tokens;
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

export function parseArg(token: string): CmdArg {
  const eq = token.indexOf('=');
  if (eq <= 0 || token.startsWith('"')) return { key: unquote(token), vals: [] };
  const key = token.slice(0, eq);
  const raw = token.slice(eq + 1);
  if (raw.startsWith('(') && raw.endsWith(')')) {
    const inner = raw.slice(1, -1).trim();
    return { key, vals: inner === '' ? [] : inner.split(',').map((v) => unquote(v.trim())) };
  }
  return { key, vals: [unquote(raw)] };
}

function isSkippable(line: string): boolean {
  const t = line.trim();
  return t === '' || t.startsWith('#');
}

/** Parses a whole scenario file. Throws with file:line on malformed input. */
export function parseDataDriven(text: string, file: string): ParsedFile {
  const lines = text.split('\n');
  if (lines.length > MAX_LINES) throw new Error(`${file}: too many lines (${lines.length})`);
  const cases: TestCase[] = [];
  let i = 0;
  let leading: string[] = [];
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (isSkippable(line)) {
      leading.push(line);
      i++;
      continue;
    }
    const start = i;
    const commandLines: string[] = [];
    while (i < lines.length && lines[i] !== SEP) {
      commandLines.push(lines[i] ?? '');
      i++;
    }
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: command without "${SEP}" separator`);
    i++; // the separator
    const { expected, next } = readExpected(lines, i, file);
    i = next;
    const [cmdLine = '', ...inputLines] = commandLines;
    const [cmd = '', ...rest] = tokenize(cmdLine);
    cases.push({
      pos: `${file}:${start + 1}`,
      leading: leading.join('\n'),
      commandText: commandLines.join('\n'),
      cmd,
      args: rest.map(parseArg),
      input: inputLines.join('\n'),
      expected,
    });
    leading = [];
  }
  return { cases, trailing: leading.join('\n') };
}

function readExpected(lines: readonly string[], i: number, file: string): { expected: string; next: number } {
  const out: string[] = [];
  if (lines[i] === SEP) {
    // Fenced output: runs until a "----" line immediately followed by another "----".
    i++;
    while (i < lines.length && !(lines[i] === SEP && lines[i + 1] === SEP)) {
      out.push(lines[i] ?? '');
      i++;
    }
    if (i >= lines.length) throw new Error(`${file}:${i}: unterminated fenced output`);
    return { expected: out.join('\n'), next: i + 2 };
  }
  while (i < lines.length && (lines[i] ?? '') !== '') {
    out.push(lines[i] ?? '');
    i++;
  }
  return { expected: out.join('\n'), next: i };
}

function renderOutput(output: string): string {
  const body = output.replace(/\n+$/, '');
  if (body.split('\n').some((l) => l === '')) return `${SEP}\n${SEP}\n${body}\n${SEP}\n${SEP}\n`;
  return `${SEP}\n${body}\n`;
}

/** Re-creates a file with new outputs; comments and commands are kept verbatim. */
export function renderDataDriven(parsed: ParsedFile, outputs: readonly string[]): string {
  if (outputs.length !== parsed.cases.length) {
    throw new Error(`renderDataDriven: ${outputs.length} outputs for ${parsed.cases.length} cases`);
  }
  const parts: string[] = [];
  parsed.cases.forEach((c, k) => {
    const lead = c.leading.replace(/^\n+/, '').replace(/\n+$/, '');
    if (lead !== '') parts.push(k === 0 ? `${lead}\n` : `\n${lead}\n`);
    else if (k > 0) parts.push('\n');
    parts.push(`${c.commandText}\n${renderOutput(outputs[k] ?? '')}`);
  });
  const trail = parsed.trailing.replace(/^\n+/, '').replace(/\n+$/, '');
  if (trail !== '') parts.push(`\n${trail}\n`);
  return parts.join('');
}
