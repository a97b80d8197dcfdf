// `ringkv chaos` as a user runs it: a short real run (3 nodes, about 20 s of workload, kill -9 and
// SIGSTOP faults, and a partition when running as root) must exit 0 with the documented last line,
// leave its files in --keep, and leave no process, namespace or route behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type FaultKind, planSchedule } from '../../src/cli/chaos/schedule.ts';
import { runCli } from './harness.ts';

const SEED = 25;
const DURATION_MS = 20_000;
const ROOT_USER = process.getuid?.() === 0;
const FAULTS: FaultKind[] = ROOT_USER ? ['kill', 'pause', 'partition'] : ['kill', 'pause'];

describe('ringkv chaos', { timeout: 240_000 }, () => {
  const keep = join(mkdtempSync(join(tmpdir(), 'ringkv-chaos-test-')), 'run');

  after(() => rmSync(join(keep, '..'), { recursive: true, force: true }));

  test('a refused option exits 2 and starts nothing', async () => {
    const r = await runCli(['chaos', '--nodes', '4']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--nodes must be 3 or 5/);
  });

  test('20 s on 3 nodes with kill -9 and SIGSTOP: linearizable, nothing lost, exit 0', async (t) => {
    // The seed's schedule starts with a kill and a pause, so both happen within the 20 s.
    const planned = planSchedule({ seed: SEED, durationMs: DURATION_MS, kinds: FAULTS }).map((f) => f.kind);
    assert.deepEqual(
      planned.slice(0, 2).sort(),
      ['kill', 'pause'],
      `seed ${SEED} plans ${planned.join(', ')}`,
    );
    const r = await runCli(
      [
        'chaos',
        '--nodes',
        '3',
        '--duration',
        '20s',
        '--seed',
        String(SEED),
        '--faults',
        FAULTS.join(','),
        '--keep',
        keep,
      ],
      { timeoutMs: 200_000 },
    );
    const lines = r.stdout.trimEnd().split('\n');
    const last = lines[lines.length - 1] ?? '';
    t.diagnostic(last);
    const detail = `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
    const m =
      /^chaos: ops (\d+), faults (\d+), lost (\d+), verdict (linearizable|not linearizable|unknown)$/.exec(
        last,
      );
    assert.ok(m !== null, `last line: ${last}\n${detail}`);
    assert.equal(r.code, 0, detail);
    assert.equal(m[4], 'linearizable', detail);
    assert.equal(m[3], '0', detail);
    assert.ok(Number(m[1]) >= 100, `too few operations to mean much: ${detail}`);
    assert.ok(Number(m[2]) >= 2, `fewer than 2 faults: ${detail}`);
    assert.match(r.stdout, /fault \d+: kill -9 node\d/);
    assert.match(r.stdout, /fault \d+: SIGSTOP node\d/);
    assert.match(
      r.stdout,
      /replicas: each of 9 groups at one applied index on the members that host it \(3 members\); each shard's replicas identical/,
    );
    // The kept folder: logs, history, timeline, result; no data after a clean run.
    const files = readdirSync(keep).sort();
    for (const f of ['history.edn', 'node1.log', 'node2.log', 'node3.log', 'result.json', 'timeline.log'])
      assert.ok(files.includes(f), `${f} missing from ${files.join(', ')}`);
    assert.ok(!existsSync(join(keep, 'data')), 'data kept after a clean run');
    // Nothing left behind: the namespaces and the route named on the network line are gone.
    const net = /network namespaces (ringkv-chaos-\d+-)\*, (198\.18\.\d+)\.0\/24/.exec(r.stdout);
    if (ROOT_USER) {
      assert.ok(net !== null, `no network line: ${detail}`);
      assert.ok(
        !execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(net[1]!),
        'namespaces left',
      );
      assert.ok(
        !execFileSync('ip', ['-4', 'route'], { encoding: 'utf8' }).includes(`${net[2]}.`),
        'route left',
      );
    }
  });
});
