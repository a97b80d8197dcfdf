// Enforces the layering of DESIGN.md: imports point down the list of layers, never up, and the
// consensus core stays pure. Exits 1 with one line per violation. Run by `npm run lint`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');

/** Which layers (folders of src/) each layer may import. A layer may always import itself. */
const allowed: Record<string, readonly string[]> = {
  raft: [],
  lincheck: [],
  ring: [],
  storage: ['raft'],
  transport: ['raft', 'gen'],
  sim: ['raft', 'storage', 'lincheck'],
  node: ['raft', 'storage', 'transport', 'ring', 'gen'],
  server: ['node', 'raft', 'storage', 'transport', 'ring', 'gen'],
  client: ['gen', 'ring'],
  cli: ['client', 'sim', 'lincheck', 'node', 'server'],
  gen: [],
};

/** Things the pure core must never touch (tests excepted: they may use node:test and fast-check). */
const impure =
  /\b(Date\.now|Math\.random|setTimeout|setInterval|setImmediate|queueMicrotask|process\.)\b|new Date\(|\bawait\b|\basync\b/;

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

const importRe =
  /(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const violations: string[] = [];

for (const file of walk(src)) {
  const rel = relative(src, file);
  const layer = rel.split(sep)[0] ?? '';
  // Tests and their support folders (`testing/`) may reach outside src/ (test/support, fixtures).
  const isTest = file.endsWith('.test.ts') || rel.split(sep).includes('testing');
  const text = readFileSync(file, 'utf8');
  const ok = allowed[layer];
  if (ok === undefined) {
    if (!rel.includes(sep)) continue; // files directly in src/ (none expected)
    violations.push(
      `${rel}: folder src/${layer} is not a known layer (add it to scripts/check-layers.ts and DESIGN.md)`,
    );
    continue;
  }
  for (const match of text.matchAll(importRe)) {
    const spec = match[1] ?? match[2] ?? '';
    if (spec.startsWith('.')) {
      const target = relative(src, resolve(file, '..', spec));
      const targetLayer = target.split(sep)[0] ?? '';
      if (target.startsWith('..')) {
        if (!isTest) violations.push(`${rel}: imports ${spec}, outside src/`);
      } else if (targetLayer !== layer && !ok.includes(targetLayer)) {
        violations.push(`${rel}: layer '${layer}' may not import '${targetLayer}' (${spec})`);
      }
    } else if (layer === 'raft' && !isTest) {
      violations.push(
        `${rel}: the consensus core may not import '${spec}' (it has no dependencies and no I/O)`,
      );
    }
  }
  if (layer === 'raft' && !isTest) {
    text.split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (impure.test(code))
        violations.push(`${rel}:${i + 1}: the consensus core must stay pure: ${line.trim()}`);
    });
  }
  // Planted bugs exist for the simulator to prove it can find them; nothing else may switch them on.
  if (!['raft', 'sim'].includes(layer) && /plantedBugs/.test(text)) {
    violations.push(`${rel}: only the simulator may plant bugs (plantedBugs)`);
  }
}

if (violations.length > 0) {
  for (const v of violations) console.error(v);
  console.error(`layering: ${violations.length} violation(s)`);
  process.exit(1);
}
console.log('layering: ok');
