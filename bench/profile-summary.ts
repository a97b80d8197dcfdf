// Summarises V8 .cpuprofile files (from `node bench/compare.ts --cpu-prof DIR`): the functions with
// the most self time, and the files, so a hot spot is visible without a profiler UI.
// usage: node bench/profile-summary.ts file.cpuprofile [more…] [--top 40]
import { readFileSync } from 'node:fs';
import { type CpuProfile, shortPath, summaryArgs } from './profile-common.ts';

const USAGE =
  'usage: node bench/profile-summary.ts file.cpuprofile [more…] [--top 40]\n  self time per function and per file of V8 CPU profiles (e.g. from bench/compare.ts --cpu-prof DIR);\n  INCLUSIVE=REGEX also prints inclusive time per area or function matching REGEX';

const { files, top } = summaryArgs(process.argv.slice(2), USAGE);

for (const f of files) {
  const p = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const n = byId.get(id);
    if (n === undefined) return;
    const cf = n.callFrame;
    const short = shortPath(cf.url);
    const key = `${cf.functionName || '(anon)'} ${short}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const file = short === '' ? cf.functionName : short;
    byFile.set(file, (byFile.get(file) ?? 0) + dt);
    total += dt;
  });
  const idle = self.get('(idle) :0') ?? 0;
  console.log(
    `\n${f}: ${(total / 1e6).toFixed(2)} s sampled, ${(((total - idle) / total) * 100).toFixed(0)}% busy`,
  );
  const show = (m: Map<string, number>, n: number): void => {
    const busy = [...m.entries()].filter(([k]) => !k.startsWith('(idle)'));
    for (const [k, v] of busy.sort((a, b) => b[1] - a[1]).slice(0, n)) {
      console.log(`${((v / (total - idle)) * 100).toFixed(1).padStart(6)}%  ${k}`);
    }
  };
  console.log('-- self time by function (% of busy) --');
  show(self, top);
  console.log('-- self time by file --');
  show(byFile, 25);
}

/** Inclusive time per area: a sample counts once for every area on its stack. */
export function inclusiveByArea(p: CpuProfile): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) break;
      const u = n.callFrame.url;
      const m = /^(src\/[a-z]+)\/|^nm\/(@[^/]+\/[^/]+|[^/@]+)\/|^(node:internal\/[a-z0-9]+)/.exec(
        shortPath(u),
      );
      const area = m === null ? n.callFrame.functionName || '(root)' : (m[1] ?? m[2] ?? m[3] ?? '?');
      const fnArea = `fn ${n.callFrame.functionName} ${shortPath(u)}`;
      for (const a of [area, fnArea]) {
        if (seen.has(a)) continue;
        seen.add(a);
        out.set(a, (out.get(a) ?? 0) + dt);
      }
    }
  });
  return out;
}

if (process.env.INCLUSIVE !== undefined) {
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    const m = inclusiveByArea(p);
    const total = p.timeDeltas.reduce((s, d) => s + d, 0);
    const idle = [...m.entries()].find(([k]) => k === '(idle)')?.[1] ?? 0;
    console.log(`\n${f}: inclusive (% of busy)`);
    const rx = new RegExp(process.env.INCLUSIVE);
    for (const [k, v] of [...m.entries()]
      .filter(([k]) => rx.test(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)) {
      console.log(`${((v / (total - idle)) * 100).toFixed(1).padStart(6)}%  ${k}`);
    }
  }
}
