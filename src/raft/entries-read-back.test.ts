// A leader whose storage let go of applied entries' bytes (MemoryStorage.releaseEntryData) sends a
// follower that needs them nothing while they are read back (EntriesTemporarilyUnavailableError),
// asks again at the follower's next heartbeat response, and then catches it up from the log: no
// snapshot, nothing lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network } from './testing/network.ts';
import { bytes } from './testing/node.ts';
import type { Entry, Index, Message } from './types.ts';
import { index } from './types.ts';

const appsTo = (ms: readonly Message[], to: string): Message[] =>
  ms.filter((m) => m.to === to && (m.type === 'app' || m.type === 'snap'));

/** Runs Ready turns and delivery until quiet, returning every message sent. */
function settle(net: Network): Message[] {
  const sent: Message[] = [];
  for (let round = 0; round < 100; round++) {
    let moved = false;
    for (const id of ['1', '2', '3']) {
      const ms = net.processReady(id);
      sent.push(...ms);
      moved ||= ms.length > 0;
    }
    moved = net.deliverAll() > 0 || moved;
    if (!moved) return sent;
  }
  throw new Error('did not settle');
}

test('a follower behind released entries is caught up from the log once they are read back', () => {
  const net = new Network({ voters: ['1', '2', '3'] });
  net.campaign('1');
  net.isolate('3');
  const leader = net.node('1');
  for (let k = 0; k < 20; k++) {
    leader.rn.propose(bytes(`v${k}`));
    net.stabilize();
  }
  const last = leader.storage.lastIndex();
  const behind = net.node('3').storage.lastIndex();
  assert.ok(last - behind >= 20, `3 is ${last - behind} behind`);
  const keep: Entry[] = leader.storage.entries(index(behind + 1), index(last + 1), Infinity);
  const wanted: Index[] = [];
  leader.storage.onEntriesWanted = (lo) => wanted.push(lo);
  leader.storage.releaseEntryData(index(last - 2));

  net.heal();
  leader.rn.tick(); // a heartbeat: 3 answers, and the leader wants to send it what it lacks
  const first = settle(net);
  assert.deepEqual(
    appsTo(first, '3').filter((m) => m.entries.length > 0 || m.type === 'snap'),
    [],
    'nothing to send while the entries are on disk only',
  );
  assert.ok(wanted.length > 0 && wanted[0]! <= behind + 1, `asked for ${wanted.join(',')}`);
  assert.equal(net.node('3').storage.lastIndex(), behind, 'still behind');

  assert.equal(leader.storage.reloadEntries(keep), true);
  leader.rn.tick();
  const then = settle(net);
  assert.ok(
    appsTo(then, '3').some((m) => m.entries.length > 0),
    'the entries go once they are back',
  );
  assert.equal(appsTo(then, '3').filter((m) => m.type === 'snap').length, 0, 'no snapshot');
  const f = net.node('3').storage;
  assert.equal(f.lastIndex(), last);
  assert.deepEqual(
    f.entries(index(behind + 1), index(last + 1), Infinity).map((e) => `${e.index}/${e.term}`),
    keep.map((e) => `${e.index}/${e.term}`),
  );
  assert.equal(net.committed('3'), net.committed('1'));
});
