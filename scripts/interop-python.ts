// Interoperability with a gRPC client that is not node:http2 underneath (our client library and the
// benchmark's generator both are): Python's grpcio, on gRPC's C core and its own HTTP/2, against a
// one-node cluster started here (scripts/interop/grpc_client.py says what it does). Needs
// /usr/bin/python3 with Debian's python3-grpcio (.ci/run installs it); fails saying so without it.
// usage: node scripts/interop-python.ts
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/support/ports.ts';

const root = resolve(import.meta.dirname, '..');
const PYTHON = '/usr/bin/python3';
const READY_WAIT_MS = 30_000;

function fail(why: string): never {
  console.error(`interop-python: ${why}`);
  process.exit(1);
}

try {
  execFileSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' });
} catch {
  fail(`${PYTHON} cannot import grpc: install Debian's python3-grpcio (apt-get install -y python3-grpcio)`);
}

const dir = mkdtempSync(join(tmpdir(), 'ringkv-interop-'));
const [port, raftPort, adminPort] = [await freePort(), await freePort(), await freePort()];
const node: ChildProcess = spawn(
  process.execPath,
  [
    join(root, 'src/cli/main.ts'),
    'serve',
    '--node_id=py1',
    `--raft_dir=${join(dir, 'py1')}`,
    `--port=${port}`,
    `--raft_port=${raftPort}`,
    `--admin_port=${adminPort}`,
    '--bootstrap=true',
    '--log_level=warn',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
try {
  const ready = Date.now() + READY_WAIT_MS;
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined);
    if (r?.ok === true) break;
    if (Date.now() > ready) fail(`the node was not ready within ${READY_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const out = execFileSync(PYTHON, [join(root, 'scripts/interop/grpc_client.py'), String(port)], {
    timeout: 60_000,
    encoding: 'utf8',
  });
  const got = JSON.parse(out.trim()) as Record<string, unknown>;
  const want = { get_len: 100_000, concurrent_ok: 200, unknown: 'UNIMPLEMENTED' };
  for (const [k, v] of Object.entries(want))
    if (got[k] !== v)
      fail(`${k}: expected ${JSON.stringify(v)}, got ${JSON.stringify(got[k])} (${out.trim()})`);
  if (typeof got.put_version !== 'number' || got.put_version <= 0) fail(`put_version: ${out.trim()}`);
  const events = got.watch_events as unknown[];
  const seen = events.filter((e): e is number => typeof e === 'number').reduce((a, b) => a + b, 0);
  if (seen < 2 || events.some((e) => typeof e !== 'number'))
    fail(`watch: expected two events, got ${out.trim()}`);
  console.log(
    `interop-python: grpcio ${execFileSync(PYTHON, ['-c', 'import grpc; print(grpc.__version__)'], { encoding: 'utf8' }).trim()}: ${out.trim()}`,
  );
} finally {
  node.kill('SIGINT');
  await new Promise((r) => node.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
