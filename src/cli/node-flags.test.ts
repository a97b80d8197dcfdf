import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../../test/support/ports.ts';
import { SERVE_NODE_FLAGS, serveNodeFlags } from './node-flags.ts';

const root = join(import.meta.dirname, '..', '..');
const nodeBin = join(root, 'node_modules', '.bin', 'node');
const mainTs = join(root, 'src', 'cli', 'main.ts');

test('serve starts again with its Node flags once; other commands never', () => {
  assert.deepEqual(serveNodeFlags(['serve', '--port', '50051'], [], undefined), SERVE_NODE_FLAGS);
  assert.deepEqual(serveNodeFlags(['--debug', 'serve'], ['--cpu-prof'], ''), SERVE_NODE_FLAGS);
  // Once started again, the flags are in execArgv: nothing more to add.
  assert.deepEqual(serveNodeFlags(['serve'], [...SERVE_NODE_FLAGS], undefined), []);
  for (const command of [['put', 'serve', 'x'], ['get', 'k'], ['start-local'], ['--help'], []]) {
    assert.deepEqual(serveNodeFlags(command, [], undefined), [], command.join(' '));
  }
});

test("the user's own value of an option is kept, from the command line or NODE_OPTIONS", () => {
  assert.deepEqual(serveNodeFlags(['serve'], ['--max-semi-space-size=16'], undefined), []);
  assert.deepEqual(serveNodeFlags(['serve'], ['--max-semi-space-size', '16'], undefined), []);
  assert.deepEqual(serveNodeFlags(['serve'], [], '--inspect  --max-semi-space-size=32'), []);
  assert.deepEqual(serveNodeFlags(['serve'], [], '--max-old-space-size=4096'), SERVE_NODE_FLAGS);
});

test('a node started as `ringkv serve` runs with the flags, in the process it was started as', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-node-flags-'));
  const args = ['serve', '--node_id', 'solo', '--raft_dir', join(dir, 'solo'), '--bootstrap'];
  args.push('--port', String(await freePort()), '--raft_port', String(await freePort()));
  args.push('--host', '127.0.0.1', '--admin_port', '0');
  const child = spawn(nodeBin, [mainTs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  try {
    for (let waited = 0; !out.includes('"msg":"serving"'); waited += 50) {
      assert.equal(child.exitCode, null, `serve exited: ${out}`);
      assert.ok(waited < 20_000, `serve did not start within 20 s: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
    for (const flag of SERVE_NODE_FLAGS) assert.ok(cmdline.includes(flag), `${flag} in ${cmdline.join(' ')}`);
    assert.ok(cmdline.includes('--raft_port'), 'with its own arguments');
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    await rm(dir, { recursive: true, force: true });
  }
});
