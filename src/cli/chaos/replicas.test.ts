import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareStates } from './replicas.ts';

describe('chaos replica check', () => {
  test('replicas: the local states are compared key by key, value and version', () => {
    const nodes = [{ name: 'node1' }, { name: 'node2' }, { name: 'node3' }];
    const same = new Map([
      ['a', '7:x'],
      ['b', '9:y'],
    ]);
    assert.deepEqual(compareStates(nodes, [same, new Map(same), new Map(same)]), {
      keysCompared: 2,
      divergentKeys: 0,
      divergence: [],
    });
    const behind = new Map([['a', '7:x']]);
    const other = new Map([
      ['a', '8:x'],
      ['b', '9:y'],
    ]);
    const r = compareStates(nodes, [same, behind, other]);
    assert.equal(r.divergentKeys, 2);
    assert.deepEqual(r.divergence, [
      'key "a": node1 7:x, node2 7:x, node3 8:x (version:value)',
      'key "b": node1 9:y, node2 absent, node3 9:y (version:value)',
    ]);
  });
});
