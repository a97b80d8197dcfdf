// `ringkv serve` as a child process: bad flags exit 2 with a clear message; a torn final WAL record
// is cut off on restart and the node serves; a flipped byte in the middle of the WAL stops the node
// with exit code 1 and one stderr line naming the file and the byte offset.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../test/support/ports.ts';
import { REAL_FILE_SYSTEM } from '../storage/real-file-system.ts';
import { Wal } from '../storage/wal.ts';
import { dec, TestClient } from './test-client.ts';

const root = resolve(import.meta.dirname, '../..');
const nodeBin = join(root, 'node_modules/.bin/node');
const main = join(root, 'src/cli/main.ts');

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function serve(args: string[]): Run {
  const child = spawn(nodeBin, [main, 'serve', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((res) => child.once('exit', (code) => res(code))),
  };
  child.stdout?.on('data', (b: Buffer) => (run.stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (run.stderr += b.toString()));
  return run;
}

async function waitServing(run: Run, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!run.stdout.includes('"msg":"serving"')) {
    if (run.child.exitCode !== null) throw new Error(`serve exited ${run.child.exitCode}: ${run.stderr}`);
    if (Date.now() - start > timeoutMs) throw new Error(`serve did not start: ${run.stdout}\n${run.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopRun(run: Run): Promise<number | null> {
  if (run.child.exitCode === null && run.child.pid !== undefined) run.child.kill('SIGTERM');
  return run.exited;
}

describe('ringkv serve as a process', { timeout: 60_000 }, () => {
  let dir = '';
  const runs: Run[] = [];
  const start = (args: string[]): Run => {
    const r = serve(args);
    runs.push(r);
    return r;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ringkv-serve-test-'));
  });
  after(async () => {
    for (const r of runs) {
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      await r.exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 2 with a clear message for bad flags', async () => {
    const cases: [string[], RegExp][] = [
      [['--raft_dir', join(dir, 'x')], /--node_id is required/],
      [['--node_id', 'a'], /--raft_dir is required/],
      [
        ['--node_id', 'a', '--raft_dir', join(dir, 'x'), '--port', '70000'],
        /--port must be a port number \(1-65535\), got '70000'/,
      ],
      [
        ['--node_id', 'a', '--raft_dir', join(dir, 'x'), '--bootstrap', 'maybe'],
        /--bootstrap must be true or false/,
      ],
      [
        ['--node_id', 'a', '--raft_dir', join(dir, 'x'), '--leader_placement', 'random'],
        /--leader_placement must be spread or pack, got 'random'/,
      ],
      [
        ['--node_id', 'a', '--raft_dir', join(dir, 'x'), '--client_api_thread', 'many'],
        /--client_api_thread must be worker or inline, got 'many'/,
      ],
      [
        ['--node_id', 'a', '--raft_dir', join(dir, 'e1'), '--port', '1', '--raft_port', '2'],
        /neither|--bootstrap=true to start a new cluster/,
      ],
      [
        ['--node_id', 'a', '--raft_dir', join(dir, 'e2'), '--bootstrap=true', '--join_addr', 'localhost:1'],
        /either --bootstrap=true .* or --join_addr .*not both/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = start(args);
      assert.equal(await r.exited, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('cuts off a torn final WAL record on restart and serves; stops on a flipped byte in the middle', async () => {
    const raftDir = join(dir, 'node');
    const port = await freePort();
    const args = [
      '--node_id',
      'solo',
      '--raft_dir',
      raftDir,
      '--bootstrap',
      '--port',
      String(port),
      '--raft_port',
      String(await freePort()),
      '--host',
      '127.0.0.1',
      // Not needed here; its default (--port + 1000) could be another test's port.
      '--admin_port',
      '0',
    ];
    const first = start(args);
    await waitServing(first);
    const cl = new TestClient(`127.0.0.1:${port}`);
    try {
      for (let i = 0; i < 20; i++) await cl.put(`key${i}`, `value${i}`);
    } finally {
      cl.close();
    }
    assert.equal(await stopRun(first), 0, 'graceful shutdown exits 0');

    // A torn tail: the start of a record whose write was cut short by a crash.
    const walDir = join(raftDir, 'wal');
    const { wal } = await Wal.open({ dir: walDir, fs: REAL_FILE_SYSTEM });
    const end = wal.writePosition();
    await wal.close();
    const segment = join(
      walDir,
      (await readdir(walDir)).filter((f) => f.endsWith('.wal')).sort()[end.seq - 1]!,
    );
    await writeAt(
      segment,
      end.offsetBytes,
      Buffer.from([0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 2, 1, 0, 0, 0]),
    );
    const second = start(args);
    await waitServing(second);
    const cl2 = new TestClient(`127.0.0.1:${port}`);
    try {
      assert.equal(dec((await cl2.get('key19')).value), 'value19');
      await cl2.put('after-torn-tail', 'ok');
    } finally {
      cl2.close();
    }
    assert.equal(await stopRun(second), 0);

    // A flipped byte early in the log, with valid records after it: acknowledged data is damaged.
    const flipAt = 200;
    await flipByte(segment, flipAt);
    const third = start(args);
    assert.equal(await third.exited, 1);
    const lines = third.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stderr: ${third.stderr}`);
    assert.match(lines[0]!, /write-ahead log corrupt in .*0000000000000001\.wal at byte offset \d+/);
    assert.match(third.stdout, /"level":60/, 'a fatal log line');
  });
});

async function writeAt(path: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

async function flipByte(path: string, offset: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = (b[0] ?? 0) ^ 0xff;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}
