// /readyz's logic: which statuses make a node ready, and what each failed check says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { APPLY_LAG_MAX_ENTRIES, describeChecks, type ReadinessStatus, readinessChecks } from './readiness.ts';

function group(id: number, leader: string, commit = 10, applied = commit): ReadinessStatus {
  return { id, leader, commit, applied } as ReadinessStatus;
}

function failed(statuses: readonly ReadinessStatus[]): Record<string, string> {
  return Object.fromEntries(
    readinessChecks(statuses)
      .filter((c) => !c.ok)
      .map((c) => [c.name, c.reason]),
  );
}

describe('readiness checks', () => {
  it('a node that knows every leader and has applied what is committed is ready', () => {
    const checks = readinessChecks([group(0, 'n1'), group(1, 'n2'), group(2, 'n3')]);
    assert.deepEqual(
      checks.map((c) => [c.name, c.ok]),
      [
        ['metadata-leader', true],
        ['shard-leaders', true],
        ['caught-up', true],
      ],
    );
  });

  it('no leader of the metadata group, or no replica of it (a joiner): not ready', () => {
    assert.deepEqual(failed([group(0, ''), group(1, 'n2')]), {
      'metadata-leader': 'no leader of the metadata group is known',
    });
    assert.deepEqual(failed([group(1, 'n2')]), {
      'metadata-leader': 'this node holds no replica of the metadata group (yet)',
    });
  });

  it('names the shards without a leader (at most 8, then a count)', () => {
    assert.deepEqual(failed([group(0, 'n1'), group(1, ''), group(2, 'n1')]), {
      'shard-leaders': 'no leader known for shard 1',
    });
    const many = [group(0, 'n1'), ...Array.from({ length: 10 }, (_, i) => group(i + 1, ''))];
    assert.equal(
      failed(many)['shard-leaders'],
      'no leader known for shards 1, 2, 3, 4, 5, 6, 7, 8 and 2 more',
    );
  });

  it('behind by more than the bound between commit and applied: not caught up; at the bound: caught up', () => {
    const atBound = group(1, 'n1', 5000, 5000 - APPLY_LAG_MAX_ENTRIES);
    assert.deepEqual(failed([group(0, 'n1'), atBound]), {});
    const behind = group(1, 'n1', 5000, 5000 - APPLY_LAG_MAX_ENTRIES - 1);
    assert.match(failed([group(0, 'n1'), behind])['caught-up'] ?? '', /group 1 \(1: applied 3999 of 5000\)/);
  });
});

describe('the body of /readyz', () => {
  const ok = { name: 'metadata-leader', ok: true, reason: '' };
  const bad = { name: 'shard-leaders', ok: false, reason: 'no leader known for shard 3' };

  it('ready: "ok", or with verbose every check and the verdict', () => {
    assert.deepEqual(describeChecks('readyz', [ok], false), { ok: true, body: 'ok\n' });
    assert.deepEqual(describeChecks('readyz', [ok], true), {
      ok: true,
      body: '[+]metadata-leader ok\nreadyz check passed\n',
    });
  });

  it('not ready: the failed checks with their reasons; verbose lists the passing ones too', () => {
    assert.deepEqual(describeChecks('readyz', [ok, bad], false), {
      ok: false,
      body: '[-]shard-leaders failed: no leader known for shard 3\nreadyz check failed\n',
    });
    assert.equal(
      describeChecks('readyz', [ok, bad], true).body,
      '[+]metadata-leader ok\n[-]shard-leaders failed: no leader known for shard 3\nreadyz check failed\n',
    );
  });
});
