// `ringkv … | head`: a reader that closes the pipe before the output is written. The program stops
// quietly with exit 0, as other Unix tools do, instead of crashing on EPIPE with a stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const nodeBin = join(root, 'node_modules', '.bin', 'node');
const mainTs = join(root, 'src', 'cli', 'main.ts');

test('ringkv --help into a pipe already closed exits 0 without a stack trace', async () => {
  const child = spawn(nodeBin, [mainTs, 'serve', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
  });
  const code = await new Promise<number | null>((res, rej) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error('ringkv did not exit within 20 s'));
    }, 20_000);
    child.once('exit', (c) => {
      clearTimeout(t);
      res(c);
    });
  });
  assert.doesNotMatch(stderr, /EPIPE|Error/, stderr);
  assert.equal(code, 0, stderr);
});
