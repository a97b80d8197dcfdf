import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ChaosOutcome,
  ChaosUsageError,
  exitCodeOf,
  finalLine,
  parseChaosOptions,
  parseFaults,
  parseRunDurationMs,
} from './options.ts';

const CLEAN: ChaosOutcome = {
  ops: 1234,
  faults: 7,
  lost: 0,
  verdict: 'linearizable',
  replicaMismatches: 0,
  problems: [],
};

describe('chaos options and outcome', () => {
  test('the last line, exactly', () => {
    assert.equal(finalLine(CLEAN), 'chaos: ops 1234, faults 7, lost 0, verdict linearizable');
    assert.equal(
      finalLine({ ops: 0, faults: 0, lost: 3, verdict: 'not linearizable' }),
      'chaos: ops 0, faults 0, lost 3, verdict not linearizable',
    );
    assert.match(
      finalLine({ ...CLEAN, verdict: 'unknown' }),
      /^chaos: ops \d+, faults \d+, lost \d+, verdict unknown$/,
    );
  });

  test('exit 0 only when linearizable, nothing lost, replicas equal, nothing failed to recover', () => {
    assert.equal(exitCodeOf(CLEAN), 0);
    assert.equal(exitCodeOf({ ...CLEAN, lost: 1 }), 1);
    assert.equal(exitCodeOf({ ...CLEAN, verdict: 'not linearizable' }), 1);
    assert.equal(exitCodeOf({ ...CLEAN, replicaMismatches: 2 }), 1);
    assert.equal(exitCodeOf({ ...CLEAN, problems: ['node2 did not come back'] }), 1);
    assert.equal(exitCodeOf({ ...CLEAN, verdict: 'unknown' }), 2);
    assert.equal(exitCodeOf({ ...CLEAN, verdict: 'unknown', lost: 1 }), 1);
  });

  test('durations', () => {
    assert.equal(parseRunDurationMs('60s'), 60_000);
    assert.equal(parseRunDurationMs('90'), 90_000);
    assert.equal(parseRunDurationMs('2m'), 120_000);
    assert.equal(parseRunDurationMs('7500ms'), 7500);
    assert.equal(parseRunDurationMs('1.5m'), 90_000);
    assert.throws(() => parseRunDurationMs('1s'), ChaosUsageError);
    assert.throws(() => parseRunDurationMs('soon'), ChaosUsageError);
  });

  test('faults', () => {
    assert.deepEqual(parseFaults('kill, pause,kill'), ['kill', 'pause']);
    assert.throws(() => parseFaults('kill,reboot'), /unknown fault 'reboot'/);
    assert.throws(() => parseFaults(','), ChaosUsageError);
  });

  test('defaults, and what is refused', () => {
    const o = parseChaosOptions({}, () => 99);
    assert.equal(o.nodes, 3);
    assert.equal(o.durationMs, 60_000);
    assert.deepEqual(o.faults, ['kill', 'pause', 'partition', 'membership']);
    assert.equal(o.faultsExplicit, false);
    assert.equal(o.seed, 99);
    assert.equal(o.keep, undefined);
    assert.equal(o.plantedBug, undefined);
    assert.equal(o.clients, 12);
    assert.equal(parseChaosOptions({ nodes: '5' }, () => 0).clients, 20);
    const p = parseChaosOptions(
      { nodes: '5', seed: '7', faults: 'kill', plantedBug: 'stale-reads' },
      () => 0,
    );
    assert.deepEqual(
      [p.nodes, p.seed, p.faults, p.faultsExplicit, p.plantedBug],
      [5, 7, ['kill'], true, 'stale-reads'],
    );
    assert.throws(() => parseChaosOptions({ nodes: '4' }, () => 0), /--nodes must be 3 or 5/);
    assert.throws(() => parseChaosOptions({ seed: '-1' }, () => 0), /--seed/);
    assert.throws(() => parseChaosOptions({ plantedBug: 'nope' }, () => 0), /unknown bug 'nope'/);
  });
});
