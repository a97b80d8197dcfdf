// Summarises sampling heap profiles (.heapprofile, e.g. from bench/alloc-profile.ts): the
// functions that allocate the most bytes, and the files.
// usage: node bench/alloc-summary.ts file.heapprofile [more…] [--top 40]
import { readFileSync } from 'node:fs';
import { shortPath, summaryArgs } from './profile-common.ts';

const USAGE =
  'usage: node bench/alloc-summary.ts file.heapprofile [more…] [--top 40]\n  bytes allocated per function and per file of sampling heap profiles (e.g. from bench/alloc-profile.ts)';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

const { files, top } = summaryArgs(process.argv.slice(2), USAGE);

for (const f of files) {
  const root = (JSON.parse(readFileSync(f, 'utf8')) as { head: HeapNode }).head;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  // Iterative walk: the tree is as deep as the deepest stack.
  const todo: HeapNode[] = [root];
  for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
    const cf = n.callFrame;
    const file = shortPath(cf.url);
    const fn = `${cf.functionName || '(anon)'} ${file}:${cf.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + n.selfSize);
    byFile.set(file || cf.functionName, (byFile.get(file || cf.functionName) ?? 0) + n.selfSize);
    total += n.selfSize;
    todo.push(...n.children);
  }
  console.log(`\n${f}: ${(total / 1e6).toFixed(1)} MB allocated (sampled estimate)`);
  for (const [title, m, n] of [
    ['by function', byFn, top],
    ['by file', byFile, 25],
  ] as const) {
    console.log(`-- bytes ${title} --`);
    for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      console.log(`${((v / total) * 100).toFixed(1).padStart(6)}%  ${k}`);
    }
  }
}
