// A full disk must not take the cluster down: three `ringkv serve` processes, each on a small tmpfs
// of its own (mounted and removed by this test; root only, as in CI), filled with a ballast file
// until little room is left. Writing until the space runs out must end in RESOURCE_EXHAUSTED
// (the NOSPACE alarm) with every node still running and reads still served; `cluster status`
// shows the alarm; once the operator frees space (the ballast goes), writes are accepted again.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ResourceExhaustedError } from '../../src/client/index.ts';
import { ProcessCluster, waitUntil } from './harness.ts';

const isRoot = process.getuid?.() === 0;
const MIB = 1024 * 1024;
const FS_MIB = 48;
const SEGMENT_MIB = 4;
/** Left free after the nodes started and the ballast was written: a few segments' worth. */
const ROOM_MIB = 16;
const VALUE_BYTES = 64 * 1024;
/** More than ROOM_MIB of values: the space must run out before this many writes. */
const WRITES_MAX = 600;

describe('a full disk', { timeout: 240_000, skip: isRoot ? false : 'mounting tmpfs needs root' }, () => {
  const mounts: string[] = [];
  let c: ProcessCluster;

  before(async () => {
    c = await ProcessCluster.plan({ nodes: 3, extraArgs: ['--wal_segment_mib', String(SEGMENT_MIB)] });
    for (const n of c.nodes) {
      const dir = mkdtempSync(join(tmpdir(), 'ringkv-full-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${FS_MIB}m`, 'tmpfs', dir]);
      mounts.push(dir);
      // The node's --raft_dir is the mount's data/ folder (the plan's own path is replaced).
      const args = n.args as string[];
      args[args.indexOf('--raft_dir') + 1] = join(dir, 'data');
      mkdirSync(join(dir, 'data'));
    }
    await c.startAll(60_000);
    for (const dir of mounts) {
      const s = await statfs(dir);
      const freeMiB = Math.floor((s.bavail * s.bsize) / MIB);
      writeFileSync(join(dir, 'ballast'), Buffer.alloc(Math.max(0, freeMiB - ROOM_MIB) * MIB));
    }
  });

  after(async () => {
    await c?.cleanup();
    for (const dir of mounts) {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses writes with RESOURCE_EXHAUSTED, keeps serving reads, and takes writes again once space is freed', async () => {
    const client = c.client({ defaultTimeoutMs: 10_000 });
    const value = Buffer.alloc(VALUE_BYTES, 7);
    let refusal: ResourceExhaustedError | undefined;
    let written = 0;
    for (let i = 0; i < WRITES_MAX && refusal === undefined; i++) {
      try {
        await client.put(`full-${i}`, value);
        written++;
      } catch (e) {
        if (e instanceof ResourceExhaustedError) refusal = e;
        else throw new Error(`${(e as Error).message}\n${c.tails()}`);
      }
    }
    assert.ok(refusal !== undefined, `no refusal after ${written} writes of ${VALUE_BYTES} bytes`);
    assert.match(refusal.message, /NOSPACE/);
    for (const n of c.nodes) assert.ok(n.running, `${n.name} still runs:\n${c.tails()}`);
    const first = await client.get('full-0');
    assert.ok(first.found, 'a write from before the alarm reads back');
    const st = await client.statusOfEveryMember();
    const alarmed = st.members.filter((m) => 'status' in m && m.status.alarms.includes('NOSPACE'));
    assert.ok(alarmed.length > 0, 'cluster status shows the alarm');

    for (const dir of mounts) rmSync(join(dir, 'ballast'));
    await waitUntil('a write to be accepted again', 30_000, async () => {
      try {
        await client.put('after-full', 'ok');
        return true;
      } catch (e) {
        if (e instanceof ResourceExhaustedError) return undefined;
        throw e;
      }
    });
    for (const n of c.nodes) assert.ok(n.running, `${n.name} still runs`);
  });
});
