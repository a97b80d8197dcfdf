import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ConfState, HardState, Snapshot } from '../raft/index.ts';
import { index, MemoryStorage, nodeId, term } from '../raft/index.ts';
import { DurableLog } from './durable-log.ts';
import { makeEntries, plainEntries, withTempDir } from './test-helpers.ts';

const CONF: ConfState = {
  voters: [nodeId('a'), nodeId('b'), nodeId('c')],
  votersOutgoing: [],
  learners: [],
  learnersNext: [],
  autoLeave: false,
};

/** Everything the core can observe through the Storage interface. */
function observe(s: MemoryStorage): unknown {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const snap = s.snapshot();
  return {
    first,
    last,
    termBeforeFirst: s.term(index(first - 1)),
    entries: plainEntries(last >= first ? s.entries(first, index(last + 1), Number.MAX_SAFE_INTEGER) : []),
    hardState: { ...s.initialState().hardState },
    snapshot: {
      index: snap.metadata.index,
      term: snap.metadata.term,
      data: Buffer.from(snap.data).toString('hex'),
    },
    conf: { ...s.initialState().confState },
  };
}

type Op =
  | { kind: 'append'; group: number; back: number; count: number }
  | { kind: 'hardState'; group: number; bump: number; commit: number }
  | { kind: 'install'; group: number; ahead: number }
  | { kind: 'compact'; group: number; at: number }
  | { kind: 'sync' }
  | { kind: 'reopen' };

const group = fc.integer({ min: 1, max: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      group,
      back: fc.nat(3),
      count: fc.integer({ min: 1, max: 20 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('hardState' as const),
      group,
      bump: fc.nat(1),
      commit: fc.nat(40),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('install' as const),
      group,
      ahead: fc.integer({ min: 1, max: 30 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), group, at: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

interface Refs {
  storages: Map<number, MemoryStorage>;
  hardStates: Map<number, HardState>;
  step: number;
}

function ref(refs: Refs, g: number): MemoryStorage {
  let s = refs.storages.get(g);
  if (s === undefined) {
    s = new MemoryStorage();
    refs.storages.set(g, s);
  }
  return s;
}

/** Applies op to the reference MemoryStorage directly and to the durable log; returns the log to use next. */
async function runOp(log: DurableLog, refs: Refs, op: Op, dir: string): Promise<DurableLog> {
  refs.step++;
  if (op.kind === 'sync') {
    await log.sync();
    return log;
  }
  if (op.kind === 'reopen') {
    await log.close();
    const reopened = await DurableLog.open({ dir, segmentBytes: 8192 });
    compare(reopened, refs);
    return reopened;
  }
  const r = ref(refs, op.group);
  if (op.kind === 'append') {
    const first = Math.max(r.firstIndex(), r.lastIndex() + 1 - op.back);
    const entries = makeEntries(first, op.count, refs.step, 40);
    r.append(entries);
    await log.stage(op.group, { entries });
  } else if (op.kind === 'hardState') {
    const prev = refs.hardStates.get(op.group)?.term ?? 0;
    const hs: HardState = {
      term: term(prev + op.bump),
      vote: nodeId(`v${op.commit}`),
      commit: index(op.commit),
    };
    refs.hardStates.set(op.group, hs);
    r.setHardState(hs);
    await log.stage(op.group, { entries: [], hardState: hs });
  } else if (op.kind === 'install') {
    const at = index(r.snapshot().metadata.index + op.ahead);
    const snap: Snapshot = {
      metadata: { index: at, term: term(refs.step), confState: CONF },
      data: Buffer.from(`s${at}`),
    };
    r.applySnapshot(snap);
    await log.stage(op.group, { entries: [], snapshot: snap });
  } else {
    await log.sync(); // compaction happens at an applied, hence durable, index
    const held = r.snapshot().metadata.index;
    if (r.lastIndex() <= held) return log;
    const at = index(held + 1 + (op.at % (r.lastIndex() - held)));
    const data = Buffer.from(`c${at}`);
    r.createSnapshot(at, CONF, data);
    r.compact(at);
    await log.compact(op.group, at, CONF, data);
  }
  return log;
}

function compare(log: DurableLog, refs: Refs): void {
  for (const [g, r] of refs.storages) assert.deepEqual(observe(log.storage(g)), observe(r), `group ${g}`);
}

test('a durable log rebuilds every group exactly as the MemoryStorage that saw the same writes', async () => {
  await withTempDir(async (root) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 60 }), async (ops) => {
        const dir = join(root, `run-${run++}`);
        const refs: Refs = { storages: new Map(), hardStates: new Map(), step: 0 };
        let log = await DurableLog.open({ dir, segmentBytes: 8192 });
        for (const op of ops) log = await runOp(log, refs, op, dir);
        await log.sync();
        compare(log, refs);
        await log.close();
        const reopened = await DurableLog.open({ dir, segmentBytes: 8192 });
        compare(reopened, refs);
        assert.deepEqual(reopened.groups(), [...refs.storages.keys()].sort());
        await reopened.close();
      }),
      { numRuns: 40 },
    );
  });
});

test('MemoryStorage changes only when sync() resolves, and a group keeps at most two snapshot files', async () => {
  await withTempDir(async (dir) => {
    const log = await DurableLog.open({ dir, segmentBytes: 8192 });
    await log.stage(5, { entries: makeEntries(1, 10, 1) });
    assert.equal(log.storage(5).lastIndex(), 0, 'not durable yet');
    await log.sync();
    assert.equal(log.storage(5).lastIndex(), 10);
    for (const at of [3, 6, 9]) {
      await log.compact(5, index(at), CONF, Buffer.from(`c${at}`));
      await log.sync();
    }
    assert.equal(log.storage(5).firstIndex(), 10);
    const files = await readdir(join(dir, 'snapshots'));
    assert.equal(files.length, 2, files.join());
    assert.ok(log.walStats().barriers >= 4);
    await log.close();
    const reopened = await DurableLog.open({ dir, segmentBytes: 8192 });
    assert.equal(reopened.storage(5).snapshot().metadata.index, 9);
    assert.equal(Buffer.from(reopened.storage(5).snapshot().data).toString(), 'c9');
    assert.deepEqual(
      plainEntries(reopened.storage(5).entries(index(10), index(11), 1000)),
      plainEntries(makeEntries(10, 1, 1)),
    );
    await reopened.close();
  });
});
