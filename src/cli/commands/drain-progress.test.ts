import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type { ShardPlacement, StatusResponse } from '../../client/index.ts';
import { placementOf, statusReport } from '../../client/testing/status-fixtures.ts';
import { replicasOn, watchDrain } from './drain-progress.ts';

const placement = placementOf;
const statusWith = (table: ShardPlacement[]): StatusResponse => statusReport('n1', { placement: table });

test('replicas on a member count voters, the outgoing half of a joint state and learners', () => {
  const table = [
    placement(1, ['n1', 'n2', 'n4']),
    placement(2, ['n1', 'n2', 'n3'], { votersOutgoing: ['n1', 'n2', 'n4'] }),
    placement(3, ['n1', 'n2', 'n3'], { learners: ['n4'] }),
    placement(4, ['n1', 'n2', 'n3']),
  ];
  assert.equal(replicasOn(table, 'n4'), 3);
  assert.equal(replicasOn(table, 'n3'), 3);
  assert.equal(replicasOn(table, 'n9'), 0);
});

test('the drain counts down as the table changes, skips failed reads, and finishes at the total', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    const writes: string[] = [];
    const tables = [
      statusWith([placement(1, ['n4']), placement(2, ['n4'])]),
      undefined, // a failed read
      statusWith([placement(1, ['n1']), placement(2, ['n4'])]),
    ];
    let reads = 0;
    const read = async () => {
      const t = tables[Math.min(reads++, tables.length - 1)];
      if (t === undefined) throw new Error('unreachable');
      return t;
    };
    const w = watchDrain('n4', 2, read, { isTTY: false, write: (s: string) => writes.push(s) });
    for (let i = 0; i < 3; i++) {
      mock.timers.tick(1000);
      await new Promise((r) => setImmediate(r));
    }
    w.finish();
    mock.timers.tick(5000);
    assert.deepEqual(writes, [
      'draining n4: 0/2 replicas moved\n',
      'draining n4: 1/2 replicas moved\n',
      'draining n4: 2/2 replicas moved\n',
    ]);
    assert.equal(reads, 3, 'no read after finish');
  } finally {
    mock.timers.reset();
  }
});

test('a member that holds nothing shows nothing', () => {
  const writes: string[] = [];
  const w = watchDrain('n4', 0, () => Promise.reject(new Error('not called')), {
    write: (s: string) => writes.push(s),
  });
  w.finish();
  assert.deepEqual(writes, []);
});
