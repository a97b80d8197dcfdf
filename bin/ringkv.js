#!/usr/bin/env node
import { existsSync } from 'node:fs';

// Entry point of the `ringkv` command. The sources are TypeScript run by Node's type stripping,
// which needs Node 22.18 or later; `npm ci` installs Node 24 for npm scripts and `npx`.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `ringkv needs Node 24 (found ${process.versions.node}). Run it as \`npx ringkv …\` after \`npm ci\`, ` +
      'which uses the Node 24 installed into node_modules, or install Node 24 (see .nvmrc).\n',
  );
  process.exit(2);
}
// In the repository the TypeScript sources run as they are; the installed package (npm pack) ships
// them compiled in dist/, since Node does not strip types inside node_modules.
const fromSource = existsSync(new URL('../src/cli/main.ts', import.meta.url));
await import(fromSource ? '../src/cli/main.ts' : '../dist/src/cli/main.js');
