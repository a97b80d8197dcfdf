// Keeps the repository self-contained: a clone with nothing beside it must build, test and lint.
// A path that leaves the repository works only on the machine where something sits beside it, so
// its tests pass there and fail everywhere else. Exits 1 with one line per violation. Run by
// `npm run lint`.
//
// What it catches (a heuristic over the text, not a parser):
//  1. in any text file under the scanned folders and in the top-level docs: a path to the
//     development machine's shared folder (dot-dot then "shared", or "shared" then
//     "linearizability"), written with / or \;
//  2. in code files (.ts, .js, .mjs, .cjs and .ci/run): a dot-dot string argument followed by a
//     "shared" one, as a path.join or resolve that steps out of the root and into that folder;
//  3. in code files: a string literal that starts with ../ and, taken from the file's own folder
//     (as an import specifier or a path beside import.meta.dirname is), climbs above the root;
//  4. in code files: resolve(…) or join(…) whose first argument is import.meta.dirname, __dirname
//     or a variable named root, repoRoot, repo or the like, and whose following string literals
//     climb above the root.
// It does not follow variables, so join(somewhere, '..') with any other first argument passes.
// Files are those git knows (tracked, or new and not ignored), so build output and
// node_modules are never scanned.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { extname, join, posix, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const SCANNED = ['src', 'test', 'scripts', 'bench', 'bin', '.ci', 'README.md', 'package.json'];
const CODE_EXTENSIONS = new Set(['.ts', '.js', '.mjs', '.cjs']);
/** Files larger than this are data, not code or docs; skipping them bounds the run. */
const FILE_BYTES_MAX = 1 << 20;

// The forbidden words are put together from pieces so that this file does not match its own rules.
const UP = '\\.\\.';
const SHARED = ['sha', 'red'].join('');
const SEP = '[\\\\/]';
const sharedPathRe = new RegExp(`${UP}${SEP}${SHARED}\\b|\\b${SHARED}${SEP}linearizability\\b`);
const sharedArgsRe = new RegExp(`(['"\`])${UP}\\1\\s*,\\s*(['"\`])${SHARED}\\2`);
/** A string literal that starts by going up a folder, in any of the three quotes. */
const upLiteralRe = new RegExp(`(['"\`])(${UP}(?:/[^'"\`\\n]*)?)\\1`, 'g');
/** resolve( or join( with its argument list, when it holds no nested parentheses. */
const pathCallRe = /\b(?:resolve|join)\(([^()]*)\)/g;
const dirnameBase = /^(?:import\.meta\.dirname|__dirname)$/;
const rootBase = /^(?:root|repo|repoRoot|repoDir|rootDir|REPO|ROOT|REPO_ROOT)$/;
const stringArg = /^(['"`])([^'"`$]*)\1$/;

function scannedFiles(): string[] {
  const out = execFileSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...SCANNED],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  return [...new Set(out.split('\0').filter((f) => f !== ''))];
}

function isCode(file: string): boolean {
  return CODE_EXTENSIONS.has(extname(file)) || file === '.ci/run';
}

/** True when `path` (relative to the root, / separated) names something above the root. */
function climbsOut(path: string): boolean {
  const normal = posix.normalize(path);
  return normal === '..' || normal.startsWith('../');
}

/** Where the string arguments of one resolve/join call lead, or undefined when its base is unknown. */
function callTarget(args: string, fileDir: string): string | undefined {
  const parts = args.split(',').map((a) => a.trim());
  const base = parts[0] ?? '';
  let path: string;
  if (dirnameBase.test(base)) path = fileDir;
  else if (rootBase.test(base)) path = '.';
  else return undefined;
  for (const part of parts.slice(1)) {
    const literal = stringArg.exec(part);
    if (literal === null) break; // a variable: where it leads is beyond a text check
    path = posix.join(path, literal[2] ?? '');
    if (climbsOut(path)) return path;
  }
  return path;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function check(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (sharedPathRe.test(line))
      found.push(`${file}:${i + 1}: names a folder outside the repository: ${line.trim()}`);
    else if (isCode(file) && sharedArgsRe.test(line))
      found.push(`${file}:${i + 1}: joins a path outside the repository: ${line.trim()}`);
  });
  if (!isCode(file)) return found;
  const fileDir = posix.dirname(file);
  for (const m of text.matchAll(upLiteralRe)) {
    const literal = m[2] ?? '';
    if (literal.includes('/') && climbsOut(posix.join(fileDir, literal)))
      found.push(`${file}:${lineOf(text, m.index)}: '${literal}' climbs above the repository root`);
  }
  for (const m of text.matchAll(pathCallRe)) {
    const target = callTarget(m[1] ?? '', fileDir);
    if (target !== undefined && climbsOut(target))
      found.push(
        `${file}:${lineOf(text, m.index)}: ${m[0].replace(/\s+/g, ' ')} climbs above the repository root`,
      );
  }
  return found;
}

const violations: string[] = [];
let scanned = 0;
for (const file of scannedFiles()) {
  let buffer: Buffer;
  try {
    buffer = readFileSync(join(root, file));
  } catch {
    continue; // deleted in the work tree but not yet in the index
  }
  if (buffer.length > FILE_BYTES_MAX || buffer.includes(0)) continue;
  scanned++;
  violations.push(...check(file, buffer.toString('utf8')));
}

if (violations.length > 0) {
  for (const v of violations) console.error(v);
  console.error(`self-contained: ${violations.length} path(s) outside the repository`);
  process.exit(1);
}
if (scanned === 0) {
  console.error('self-contained: no files found to scan (is this a git work tree?)');
  process.exit(1);
}
console.log(`self-contained: ok (${scanned} files)`);
