import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry, HardState } from '../raft/types.ts';
import { index, NO_NODE, nodeId, term } from '../raft/types.ts';
import { appendTruncating, SimDisk } from './disk.ts';
import { Prng } from './prng.ts';
import { SimViolation } from './violation.ts';

const n1 = nodeId('n1');

function entries(from: number, to: number, t: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++)
    out.push({ index: index(i), term: term(t), type: 'normal', data: new Uint8Array([i]) });
  return out;
}

function hs(t: number, vote: string, commit: number): HardState {
  return { term: term(t), vote: vote === '' ? NO_NODE : nodeId(vote), commit: index(commit) };
}

test('a crash loses every unsynced write when nothing lands', () => {
  const disk = new SimDisk(n1);
  disk.write({ kind: 'entries', entries: entries(1, 3, 1) });
  disk.write({ kind: 'hardState', hardState: hs(1, 'n1', 3) });
  disk.sync();
  disk.write({ kind: 'entries', entries: entries(4, 6, 1) });
  disk.write({ kind: 'hardState', hardState: hs(2, 'n2', 3) });
  disk.crash(new Prng(0), false);
  const d = disk.durableState();
  assert.deepEqual(
    d.entries.map((e) => e.index),
    [1, 2, 3],
  );
  assert.deepEqual(d.hardState, hs(1, 'n1', 3));
  const storage = disk.loadStorage(false);
  assert.equal(storage.lastIndex(), 3);
  assert.equal(storage.initialState().hardState.vote, 'n1');
  assert.equal(
    disk.loadStorage(true).initialState().hardState.vote,
    NO_NODE,
    'the forgetVote bug drops the vote',
  );
});

test('a torn crash keeps an in-order prefix of unsynced writes, possibly part of an entries write', () => {
  let torn = 0;
  for (let seed = 0; seed < 200; seed++) {
    const disk = new SimDisk(n1);
    disk.write({ kind: 'entries', entries: entries(1, 2, 1) });
    disk.sync();
    disk.write({ kind: 'entries', entries: entries(3, 8, 1) });
    disk.write({ kind: 'hardState', hardState: hs(1, '', 8) });
    const what = disk.crash(new Prng(seed), true);
    const d = disk.durableState();
    const last = d.entries.at(-1)?.index ?? 0;
    assert.ok(last >= 2 && last <= 8, `seed ${seed}: last ${last}`);
    // In order: the hard state (written after the entries) survives only if all entries did.
    if (d.hardState.commit === 8) assert.equal(last, 8, `seed ${seed}: ${what}`);
    if (last > 2 && last < 8) torn++;
  }
  assert.ok(torn > 10, `torn writes happened ${torn} times`);
});

test('hard state regressions are detected when written and when synced', () => {
  const disk = new SimDisk(n1);
  disk.write({ kind: 'hardState', hardState: hs(3, 'n2', 5) });
  disk.sync();
  assert.throws(() => disk.write({ kind: 'hardState', hardState: hs(2, 'n2', 5) }), SimViolation);
  assert.throws(
    () => disk.write({ kind: 'hardState', hardState: hs(3, 'n3', 5) }),
    /vote changed within term 3/,
  );
  assert.throws(() => disk.write({ kind: 'hardState', hardState: hs(3, 'n2', 4) }), /commit 4 after 5/);
  disk.write({ kind: 'hardState', hardState: hs(4, '', 5) });
  disk.write({ kind: 'hardState', hardState: hs(4, 'n3', 6) });
  disk.sync();
  assert.deepEqual(disk.durableState().hardState, hs(4, 'n3', 6));
});

test('appendTruncating replaces a conflicting suffix and refuses gaps', () => {
  const log = entries(1, 5, 1);
  const out = appendTruncating(log, 0, entries(4, 6, 2));
  assert.deepEqual(
    out.map((e) => `${e.index}/${e.term}`),
    ['1/1', '2/1', '3/1', '4/2', '5/2', '6/2'],
  );
  assert.throws(() => appendTruncating(log, 0, entries(8, 9, 2)), /gap/);
  assert.deepEqual(
    appendTruncating(entries(11, 12, 1), 10, entries(9, 11, 3)).map((e) => e.index),
    [11],
  );
});

test('a local snapshot is durable at once and compacts the log it covers', () => {
  const disk = new SimDisk(n1);
  disk.write({ kind: 'entries', entries: entries(1, 10, 1) });
  const cs = { voters: [n1], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
  disk.saveLocalSnapshot(
    { metadata: { index: index(8), term: term(1), confState: cs }, data: new Uint8Array([1]) },
    6,
  );
  disk.crash(new Prng(1), false);
  const storage = disk.loadStorage(false);
  assert.equal(storage.snapshot().metadata.index, 8);
  assert.equal(storage.lastIndex(), 10, 'the snapshot synced the writes before it');
});

test('losing a write that messages were already sent after is a durability violation', () => {
  const disk = new SimDisk(n1);
  disk.write({ kind: 'hardState', hardState: hs(1, '', 0) });
  disk.sync();
  disk.write({ kind: 'hardState', hardState: hs(1, '', 0) }); // commit-only changes need no sync
  disk.expose();
  assert.doesNotThrow(() => disk.crash(new Prng(0), false));
  disk.write({ kind: 'entries', entries: entries(1, 2, 1) });
  disk.write({ kind: 'hardState', hardState: hs(2, 'n1', 0) });
  disk.expose(); // e.g. an ack sent before fsync
  assert.throws(
    () => disk.crash(new Prng(0), false),
    /lost writes it had already acted on .*entries 1..2, hard state term 2/,
  );
});
