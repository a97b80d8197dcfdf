// `npm run build` (and `npm pack`'s prepack): compiles src/ to JavaScript with type declarations in
// dist/ (tsconfig.build.json; relative imports rewritten from .ts to .js), and copies the files
// that are not TypeScript (the dashboard's page, script and style) beside the compiled code. The
// repository itself runs the .ts sources directly; dist/ is what the installed package runs, since
// Node does not strip types inside node_modules.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
cpSync(join(root, 'src', 'dashboard', 'static'), join(dist, 'src', 'dashboard', 'static'), {
  recursive: true,
});
