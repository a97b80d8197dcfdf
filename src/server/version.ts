// The ringkv release this code is: the version in the package.json that ships with it, found by
// walking up from this file (src/server/ when run from the repository, dist/src/server/ when run
// from the installed package), read once.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Folders walked up from this file's before giving up (dist/src/server → the package root is 3). */
const LEVELS_MAX = 4;

function findVersion(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < LEVELS_MAX; i++) {
    dir = dirname(dir);
    let text: string;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      continue;
    }
    const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
    if (pkg.name === 'ringkv' && typeof pkg.version === 'string') return pkg.version;
  }
  throw new Error(`ringkv's package.json was not found above ${import.meta.dirname}`);
}

export const RINGKV_VERSION: string = findVersion();
