import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDurationMs } from './duration.ts';

test('durations: units, bare seconds, decimals; anything else is none', () => {
  assert.equal(parseDurationMs('1500ms'), 1500);
  assert.equal(parseDurationMs('90s'), 90_000);
  assert.equal(parseDurationMs(' 5m '), 300_000);
  assert.equal(parseDurationMs('1h'), 3_600_000);
  assert.equal(parseDurationMs('7d'), 604_800_000);
  assert.equal(parseDurationMs('300'), 300_000);
  assert.equal(parseDurationMs('1.5s'), 1500);
  for (const bad of ['', 's', '-1s', '5 m', '5min', '1e3', 'ten'])
    assert.equal(parseDurationMs(bad), undefined, bad);
});
