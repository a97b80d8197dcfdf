// The `npm start` launcher (`ringkv start-local`): three processes, a welcome with commands to try,
// the CLI working against it, Ctrl+C (SIGINT) stopping all three; a second start resumes the data.
// It runs on free ports (--base-port) instead of 50051…, so it cannot disturb a real local cluster.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MAIN_TS, NODE_BIN, runCli, waitUntil, within } from './harness.ts';

/** Three consecutive free ports starting at the returned one (client or peer ports of node1..3). */
async function freeRun(from: number): Promise<number> {
  for (let base = from; base < from + 2000; base += 7) {
    const free = await Promise.all([0, 1, 2].map((i) => canListen(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no 3 consecutive free ports from ${from}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createServer();
    s.once('error', () => r(false));
    s.listen(port, 'localhost', () => s.close(() => r(true)));
  });
}

interface Launcher {
  readonly child: ChildProcess;
  out: string;
  readonly exited: Promise<number | null>;
}

function launch(dataDir: string, basePort: number, baseRaftPort: number): Launcher {
  const child = spawn(
    NODE_BIN,
    [
      MAIN_TS,
      'start-local',
      '--data-dir',
      dataDir,
      '--base-port',
      String(basePort),
      '--base-raft-port',
      String(baseRaftPort),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const l: Launcher = { child, out: '', exited: new Promise((r) => child.once('exit', (code) => r(code))) };
  child.stdout?.on('data', (b: Buffer) => {
    l.out += b.toString('utf8');
  });
  child.stderr?.on('data', (b: Buffer) => {
    l.out += b.toString('utf8');
  });
  return l;
}

/** Node pids the launcher printed ("pid 1234"), to kill them by pid if the launcher fails to. */
function nodePids(out: string): number[] {
  return [...out.matchAll(/ pid (\d+) /g)].map((m) => Number(m[1]));
}

describe('npm start (ringkv start-local)', { timeout: 150_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-start-'));
  const pids: number[] = [];
  const launchers: Launcher[] = [];

  after(() => {
    for (const l of launchers)
      if (l.child.exitCode === null && l.child.pid !== undefined) process.kill(l.child.pid, 'SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already stopped, as it should be
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('starts three nodes, serves the CLI, stops all on Ctrl+C, and resumes on the next start', async () => {
    const basePort = await freeRun(21000 + Math.floor(Math.random() * 8000));
    const baseRaftPort = await freeRun(basePort + 100);
    const endpoints = `localhost:${basePort}`;
    for (const round of [1, 2]) {
      const l = launch(join(dir, 'data'), basePort, baseRaftPort);
      launchers.push(l);
      await waitUntil(
        'the launcher to say the cluster is up',
        90_000,
        () => {
          if (l.child.exitCode !== null) throw new Error(`launcher exited ${l.child.exitCode}:\n${l.out}`);
          return l.out.includes('Press Ctrl+C') ? true : undefined;
        },
        200,
      );
      pids.push(...nodePids(l.out));
      assert.equal(nodePids(l.out).length, 3, l.out);
      assert.match(l.out, /npx ringkv put hello world/);
      // The dashboard URL it prints serves the page.
      const dashboard = /dashboard: (http:\/\/localhost:\d+\/)/.exec(l.out)?.[1];
      assert.ok(dashboard !== undefined, l.out);
      const page = await fetch(dashboard, { signal: AbortSignal.timeout(5000) });
      assert.match(await page.text(), /<title>ringkv dashboard<\/title>/);
      if (round === 1) {
        const put = await runCli(['put', 'hello', 'world', '--endpoints', endpoints]);
        assert.equal(put.code, 0, put.stderr);
      }
      const get = await runCli(['get', 'hello', '--endpoints', `localhost:${basePort + 2}`]);
      assert.deepEqual([get.code, get.stdout], [0, 'world\n'], `round ${round}: ${get.stderr}`);
      process.kill(l.child.pid ?? 0, 'SIGINT');
      const code = await within(l.exited, 20_000);
      assert.equal(code, 0, `launcher exit after SIGINT (round ${round}):\n${l.out}`);
      assert.match(l.out, /all nodes stopped/);
      for (const pid of nodePids(l.out))
        assert.throws(() => process.kill(pid, 0), `node pid ${pid} still runs`);
    }
  });
});
