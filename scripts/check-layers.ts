// Enforces the layering of DESIGN.md: imports point down the list of layers, never up, and the
// consensus core stays pure. Exits 1 with one line per violation. Run by `npm run lint`.
//
// Also rejects import cycles between files of src/ (STYLE 14: a module is handed the narrow
// interface it needs, so nothing it is handed needs to import it back). What counts is every static
// import and re-export (`import … from`, `export … from`, `import '…'`), `import type` included: a
// type-only cycle costs nothing at run time, but it is the coupling this rule is about (node.ts
// handed the whole KvNode to balancer.ts and membership.ts, which imported its type back). Dynamic
// `import()` does not count (it runs after every module has loaded). One cycle is allowed, and only
// it (ALLOWED_CYCLES): the consensus core's "functions over the Raft class" split, documented in
// src/raft/README.md. An entry of ALLOWED_CYCLES that no longer lies on a cycle is reported too, so
// that the list (and the README) shrink with the code.
//
// And: the node (src/node) takes time and randomness as seams (src/node/clock.ts, random.ts) so that
// a simulator can run it on virtual time from a seed: no file of it but the adapter to the real ones
// (src/node/system.ts) names the system clock, timers or Math.random; the core, pure, names none.
// The same holds for the files of src/server the simulator runs (SIM_SERVER_FILES: KVService's
// handlers and what they need), which src/sim may import and no other file of src/server: they
// import no other file of src/server either.
//
// And: outside src/raft, the core's UnavailableError ("log index not available") is imported only
// under another name, never beside (or instead of) the node's and the client's UnavailableError
// ("no leader or quorum"), which mean something else.
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
  // The real-node simulator (src/sim/real) runs the node on a simulated transport and disk, and
  // routes its clients' keys to shards as the server does (ring's shardOf); its clients enter
  // through src/server's KVService handlers (only SIM_SERVER_FILES of it).
  sim: ['raft', 'storage', 'lincheck', 'node', 'transport', 'ring', 'server'],
  node: ['raft', 'storage', 'transport', 'ring', 'gen'],
  server: ['node', 'raft', 'storage', 'transport', 'ring', 'gen'],
  client: ['gen', 'ring'],
  // The admin port's web dashboard: it reaches the cluster through the client only (the server
  // serves its pages through a narrow interface, AdminPages, that the CLI connects).
  dashboard: ['client'],
  cli: ['client', 'sim', 'lincheck', 'node', 'server', 'dashboard'],
  gen: [],
};

/**
 * The real clock, timers and randomness: the node takes them from its Clock and Random, and only
 * NODE_SYSTEM_ADAPTER touches them (tests and `testing/` excepted, as below).
 */
const worldly =
  /\b(Date|performance|setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|clearImmediate|Math\.random|getRandomValues|randomUUID|randomBytes|randomInt)\b/;
/** The files of src/node that may name its planted bugs: the option, the node passing it on, the driver reading it. */
const NODE_PLANTED_BUG_FILES: readonly string[] = [
  join('node', 'options.ts'),
  join('node', 'node.ts'),
  join('node', 'driver.ts'),
  join('node', 'group.ts'),
];
/**
 * The files of src/server the simulator runs (its clients enter through KVService's handlers): the
 * only ones src/sim may import, importing no other file of src/server, and, like src/node, free of
 * the real clock, timers and randomness (they take the node's Clock).
 */
const SIM_SERVER_FILES: readonly string[] = [
  'kv-handlers.ts',
  'txn.ts',
  'delete-range.ts',
  'lease.ts',
  'kv-peers.ts',
  'routing.ts',
  'stale-route.ts',
  'errors.ts',
  'deadline.ts',
].map((f) => join('server', f));
/** The real-node simulator's loop: lets microtasks settle between events with one setImmediate. */
const SIM_SETTLE = join('sim', 'real', 'world.ts');
/** The file of src/node that implements its Clock and Random with the real ones. */
const NODE_SYSTEM_ADAPTER = join('node', 'system.ts');
/** Things the pure core must never touch (tests excepted: they may use node:test and fast-check). */
const impure = new RegExp(`${worldly.source}|\\b(queueMicrotask|process\\.)\\b|\\bawait\\b|\\basync\\b`);

/** Reports each line of `text` (comments aside) that `forbidden` matches, saying `why`. */
function forbidLines(rel: string, text: string, forbidden: RegExp, why: string): void {
  text.split('\n').forEach((line, i) => {
    // A line comment, or a line of a block comment (` * …`, `/** …`), may name what it avoids.
    const code = /^\s*(\*|\/\*)/.test(line) ? '' : line.replace(/\/\/.*$/, '');
    if (forbidden.test(code)) violations.push(`${rel}:${i + 1}: ${why}: ${line.trim()}`);
  });
}

/**
 * The one file of src/storage and src/node that reaches the disk: the others take a FileSystem
 * (src/storage/file-system.ts), so that a simulator can run them on a disk that crashes and fails.
 */
const FILE_SYSTEM_ADAPTER = join('storage', 'real-file-system.ts');
const nodeFs = /^(node:)?fs(\/promises)?$/;

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

/**
 * The only import cycle allowed: raft.ts holds the Raft class (roles, terms, elections, dispatch);
 * replication, reads, membership and snapshot transfer are functions over it in sibling files, which
 * raft.ts calls and which call each other (src/raft/README.md, "Functions over the Raft class").
 * Paths are relative to src/.
 */
const ALLOWED_CYCLES: readonly (readonly string[])[] = [
  ['raft/raft.ts', 'raft/replication.ts', 'raft/reads.ts', 'raft/membership.ts', 'raft/snapshot-transfer.ts'],
];

const importRe =
  /(?:^|\s)(?:import|export)\s[^'";]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\s)import\s+['"]([^'"]+)['"]/g;
/** The core's UnavailableError imported without a new name (`UnavailableError as …` is fine). */
const coreUnavailable = /\bUnavailableError\b(?!\s+as\b)/;
const violations: string[] = [];
/** Static imports between files of src/ (paths relative to src/), for the cycle check. */
const imports = new Map<string, Set<string>>();

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
  const edges = new Set<string>();
  imports.set(rel, edges);
  for (const match of text.matchAll(importRe)) {
    const spec = match[1] ?? match[2] ?? match[3] ?? '';
    if (spec.startsWith('.')) {
      const target = relative(src, resolve(file, '..', spec));
      if (match[2] === undefined && !target.startsWith('..')) edges.add(target);
      const targetLayer = target.split(sep)[0] ?? '';
      if (target.startsWith('..')) {
        if (!isTest) violations.push(`${rel}: imports ${spec}, outside src/`);
      } else if (targetLayer !== layer && !ok.includes(targetLayer)) {
        violations.push(`${rel}: layer '${layer}' may not import '${targetLayer}' (${spec})`);
      } else if (
        targetLayer === 'server' &&
        (layer === 'sim' || SIM_SERVER_FILES.includes(rel)) &&
        !isTest &&
        !SIM_SERVER_FILES.includes(target)
      ) {
        violations.push(
          `${rel}: imports ${spec}: the simulator runs only these files of src/server, which import no other: ${SIM_SERVER_FILES.join(', ')} (scripts/check-layers.ts SIM_SERVER_FILES)`,
        );
      } else if (targetLayer === 'raft' && layer !== 'raft' && coreUnavailable.test(match[0])) {
        violations.push(
          `${rel}: imports the core's UnavailableError (a log index not available) under that name; the node and the client have their own UnavailableError (no quorum, no leader): import it as LogIndexUnavailableError or the like`,
        );
      }
    } else if (
      nodeFs.test(spec) &&
      (layer === 'storage' || layer === 'node') &&
      !isTest &&
      rel !== join('storage', 'test-helpers.ts') &&
      rel !== FILE_SYSTEM_ADAPTER
    ) {
      violations.push(
        `${rel}: imports '${spec}': src/storage and src/node reach files only through the FileSystem they are handed ` +
          `(src/storage/file-system.ts; the real one is src/${FILE_SYSTEM_ADAPTER}, the only file that may import node:fs)`,
      );
    } else if (layer === 'raft' && !isTest) {
      violations.push(
        `${rel}: the consensus core may not import '${spec}' (it has no dependencies and no I/O)`,
      );
    }
  }
  if (layer === 'raft' && !isTest) forbidLines(rel, text, impure, 'the consensus core must stay pure');
  if (SIM_SERVER_FILES.includes(rel)) {
    forbidLines(
      rel,
      text,
      worldly,
      "the simulator runs this file of src/server: it reads time only through the node's Clock (src/node/clock.ts)",
    );
  }
  if (layer === 'node' && !isTest && rel !== NODE_SYSTEM_ADAPTER) {
    forbidLines(
      rel,
      text,
      worldly,
      'the node reads time and draws randomness only through the Clock and Random it is handed ' +
        `(src/node/clock.ts, random.ts; the real ones are in src/${NODE_SYSTEM_ADAPTER})`,
    );
  }
  // Planted bugs exist for the simulator to prove it can find them; nothing else may switch them on.
  // The node carries its own (NodeOptions.plantedBugs) only where it declares, passes and reads them.
  if (!['raft', 'sim'].includes(layer) && !NODE_PLANTED_BUG_FILES.includes(rel) && /plantedBugs/.test(text)) {
    violations.push(`${rel}: only the simulator may plant bugs (plantedBugs)`);
  }
  // The simulator's runs are functions of their seed: no real clock, timer or randomness, but the
  // one wait that lets a simulated event's promise continuations settle (SIM_SETTLE).
  if (layer === 'sim' && !isTest) {
    forbidLines(
      rel,
      rel === SIM_SETTLE ? text.replace(/\bsetImmediate\(resolve\)/, '') : text,
      worldly,
      'the simulator takes time from its event queue and randomness from its seeded streams (src/sim/prng.ts)',
    );
  }
}

checkCycles();

/** Tarjan's strongly connected components of the import graph: every file on a cycle is in one of size > 1. */
function stronglyConnected(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    order.set(v, order.size);
    low.set(v, order.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue; // a missing file: tsc reports it
      if (!order.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, order.get(w)!));
      }
    }
    if (low.get(v) !== order.get(v)) return;
    const component: string[] = [];
    // Bounded: pops down to v, which is on the stack.
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    out.push(component.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!order.has(v)) visit(v);
  return out;
}

/** One cycle through `from` inside `component` (breadth first: a shortest one), as a path back to it. */
function cycleThrough(from: string, component: ReadonlySet<string>): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of imports.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === from) {
        const path = [from];
        for (let at: string | undefined = v; at !== from && at !== undefined; at = cameFrom.get(at))
          path.splice(1, 0, at);
        return [...path, from];
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return [from, from];
}

function checkCycles(): void {
  const onCycles = new Set<string>();
  for (const component of stronglyConnected(imports)) {
    const first = component[0]!;
    const selfImport = imports.get(first)?.has(first) ?? false;
    if (component.length < 2 && !selfImport) continue;
    for (const f of component) onCycles.add(f);
    if (ALLOWED_CYCLES.some((allowed) => component.every((f) => allowed.includes(f)))) continue;
    const cycle = cycleThrough(first, new Set(component));
    violations.push(
      `import cycle: ${cycle.join(' → ')} (files on cycles together: ${component.join(', ')}); ` +
        'hand the module a narrow interface instead of importing back what imports it (STYLE 14)',
    );
  }
  for (const allowed of ALLOWED_CYCLES) {
    for (const f of allowed) {
      if (!onCycles.has(f)) {
        violations.push(
          `${f}: listed in ALLOWED_CYCLES (scripts/check-layers.ts) but on no import cycle any more: remove it there and from src/raft/README.md`,
        );
      }
    }
  }
}

if (violations.length > 0) {
  for (const v of violations) console.error(v);
  console.error(`layering: ${violations.length} violation(s)`);
  process.exit(1);
}
console.log('layering: ok');
