// Entry of the `ringkv` command. A node (`serve`) first starts itself again, in place, with the Node
// flags it runs with (node-flags.ts); then the program (program.ts) is loaded.
import { serveNodeFlags } from './node-flags.ts';

const flags = serveNodeFlags(process.argv.slice(2), process.execArgv, process.env.NODE_OPTIONS);
// process.execve exists from Node 23.11; without it the node runs with Node's defaults.
if (flags.length > 0 && process.execve !== undefined) {
  process.execve(process.execPath, [
    process.execPath,
    ...flags,
    ...process.execArgv,
    ...process.argv.slice(1),
  ]);
}
await import('./program.ts');
