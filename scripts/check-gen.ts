// Fails when the committed generated code in src/gen differs from a fresh `buf generate` of proto/.
// Generated protobuf code is committed (so nothing is generated at install or run time); CI runs this.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'ringkv-gen-'));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

try {
  execFileSync(join(root, 'node_modules/.bin/buf'), ['generate', '-o', out], { cwd: root, stdio: 'inherit' });
  const fresh = join(out, 'src/gen');
  const committed = join(root, 'src/gen');
  const names = new Set(
    [...files(fresh), ...files(committed)].map((f) => relative(f.startsWith(out) ? fresh : committed, f)),
  );
  const drift = [...names].filter((name) => {
    try {
      return readFileSync(join(fresh, name), 'utf8') !== readFileSync(join(committed, name), 'utf8');
    } catch {
      return true;
    }
  });
  if (drift.length > 0) {
    console.error(
      `src/gen is out of date with proto/ (${drift.join(', ')}): run \`npm run gen\` and commit the result`,
    );
    process.exit(1);
  }
  console.log(`generated code: up to date (${names.size} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
