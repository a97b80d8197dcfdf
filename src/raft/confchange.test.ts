// Property tests of membership changes (confchange/): random sequences of changes applied
// through the core's Changer are compared, step by step, with a small reference model of
// etcd's confchange semantics, and every reached configuration is checked for the invariants
// (voters and learners disjoint, never zero voters, joint only when entered, leaving restores a
// simple configuration and promotes nothing but learnersNext into learners). The same is then
// checked end to end through RawNode.applyConfChange, and the codec round-trips.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Changer } from './confchange/changer.ts';
import { restoreConfState } from './confchange/restore.ts';
import { ConfChangeError } from './errors.ts';
import { decodeConfChange, encodeConfChange } from './index.ts';
import { TestNode } from './testing/node.ts';
import { ProgressTracker, type TrackerConfig } from './tracker/tracker.ts';
import type { ConfChange, ConfChangeSingle, ConfState, NodeId } from './types.ts';
import { index, nodeId } from './types.ts';

const IDS = ['1', '2', '3', '4', '5', '6'].map(nodeId);
const RUNS = 200;

// ---- a reference model of the configuration ------------------------------------------------------

interface Model {
  incoming: Set<NodeId>;
  outgoing: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

const copyModel = (m: Model): Model => ({
  incoming: new Set(m.incoming),
  outgoing: new Set(m.outgoing),
  learners: new Set(m.learners),
  learnersNext: new Set(m.learnersNext),
  autoLeave: m.autoLeave,
});

const isMember = (m: Model, id: NodeId): boolean =>
  m.incoming.has(id) || m.outgoing.has(id) || m.learners.has(id) || m.learnersNext.has(id);

function applyToModel(m: Model, c: ConfChangeSingle): void {
  const id = c.nodeId;
  if (c.type === 'addVoter') {
    m.learners.delete(id);
    m.learnersNext.delete(id);
    m.incoming.add(id);
  } else if (c.type === 'addLearner') {
    if (m.learners.has(id)) return;
    m.incoming.delete(id);
    m.learnersNext.delete(id);
    // An outgoing voter cannot be a learner while it still votes in the outgoing half.
    if (m.outgoing.has(id)) m.learnersNext.add(id);
    else m.learners.add(id);
  } else if (isMember(m, id)) {
    m.incoming.delete(id);
    m.learners.delete(id);
    m.learnersNext.delete(id);
  }
}

type Op =
  | { kind: 'simple'; changes: ConfChangeSingle[] }
  | { kind: 'enterJoint'; autoLeave: boolean; changes: ConfChangeSingle[] }
  | { kind: 'leaveJoint' };

/** The model's answer: the next configuration, or undefined when the change must be refused. */
function modelStep(m: Model, op: Op): Model | undefined {
  const joint = m.outgoing.size > 0;
  const next = copyModel(m);
  if (op.kind === 'leaveJoint') {
    if (!joint) return undefined;
    for (const id of next.learnersNext) next.learners.add(id);
    next.learnersNext.clear();
    next.outgoing.clear();
    next.autoLeave = false;
    return next;
  }
  if (joint) return undefined;
  if (op.kind === 'enterJoint') {
    if (m.incoming.size === 0) return undefined;
    next.outgoing = new Set(m.incoming);
    next.autoLeave = op.autoLeave;
  }
  for (const c of op.changes) applyToModel(next, c);
  if (next.incoming.size === 0) return undefined;
  if (op.kind === 'simple') {
    let diff = 0;
    for (const id of IDS) if (m.incoming.has(id) !== next.incoming.has(id)) diff++;
    if (diff > 1) return undefined;
  }
  return next;
}

// ---- running the core's Changer ----------------------------------------------------------------------

function runChanger(tr: ProgressTracker, op: Op): ReturnType<Changer['simple']> {
  const ch = new Changer(tr, index(10));
  if (op.kind === 'simple') return ch.simple(op.changes);
  if (op.kind === 'enterJoint') return ch.enterJoint(op.autoLeave, op.changes);
  return ch.leaveJoint();
}

const sorted = (s: ReadonlySet<NodeId>): NodeId[] => [...s].sort();

function assertSameConfig(got: TrackerConfig, want: Model, ctx: string): void {
  assert.deepEqual(sorted(got.incoming), sorted(want.incoming), `${ctx}: incoming voters`);
  assert.deepEqual(sorted(got.outgoing), sorted(want.outgoing), `${ctx}: outgoing voters`);
  assert.deepEqual(sorted(got.learners), sorted(want.learners), `${ctx}: learners`);
  assert.deepEqual(sorted(got.learnersNext), sorted(want.learnersNext), `${ctx}: learnersNext`);
  assert.equal(got.autoLeave, want.autoLeave, `${ctx}: autoLeave`);
}

/** The invariants every configuration must satisfy, independent of how it was reached. */
function assertInvariants(cs: ConfState, ctx: string): void {
  const voters = new Set([...cs.voters, ...cs.votersOutgoing]);
  assert.ok(cs.voters.length > 0, `${ctx}: zero voters`);
  for (const l of cs.learners) assert.ok(!voters.has(l), `${ctx}: learner ${l} is also a voter`);
  for (const l of cs.learnersNext) {
    assert.ok(cs.votersOutgoing.includes(l), `${ctx}: learnerNext ${l} is not an outgoing voter`);
    assert.ok(
      !cs.voters.includes(l) && !cs.learners.includes(l),
      `${ctx}: learnerNext ${l} also voter/learner`,
    );
  }
  if (cs.votersOutgoing.length === 0) {
    assert.equal(cs.learnersNext.length, 0, `${ctx}: learnersNext outside a joint config`);
    assert.equal(cs.autoLeave, false, `${ctx}: autoLeave outside a joint config`);
  }
  for (const list of [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext]) {
    assert.equal(new Set(list).size, list.length, `${ctx}: duplicate ids in ${list.join(',')}`);
  }
}

// ---- generators -----------------------------------------------------------------------------------------

const single = fc.record({
  type: fc.constantFrom('addVoter' as const, 'addLearner' as const, 'removeNode' as const),
  nodeId: fc.constantFrom(...IDS),
});
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: single.map((c): Op => ({ kind: 'simple', changes: [c] })) },
  {
    weight: 1,
    arbitrary: fc.array(single, { maxLength: 2 }).map((changes): Op => ({ kind: 'simple', changes })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ autoLeave: fc.boolean(), changes: fc.array(single, { minLength: 1, maxLength: 4 }) })
      .map((r): Op => ({ kind: 'enterJoint', ...r })),
  },
  { weight: 2, arbitrary: fc.constant<Op>({ kind: 'leaveJoint' }) },
);
const initialVoters = fc.subarray(IDS, { minLength: 1, maxLength: 4 });

function bootstrap(voters: readonly NodeId[]): { tr: ProgressTracker; model: Model } {
  const tr = new ProgressTracker(16, 0);
  const cs: ConfState = { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
  const r = restoreConfState(tr, cs, index(10));
  tr.install(r.config, r.progress);
  const model: Model = {
    incoming: new Set(voters),
    outgoing: new Set(),
    learners: new Set(),
    learnersNext: new Set(),
    autoLeave: false,
  };
  return { tr, model };
}

// ---- properties ----------------------------------------------------------------------------------------------

test('Changer agrees with the reference model on every step (accepts the same changes, same result)', () => {
  fc.assert(
    fc.property(initialVoters, fc.array(op, { maxLength: 25 }), (voters, ops) => {
      const { tr, model: m0 } = bootstrap(voters);
      let model = m0;
      ops.forEach((o, k) => {
        const ctx = `step ${k} ${JSON.stringify(o)}`;
        const want = modelStep(model, o);
        let got: ReturnType<Changer['simple']> | undefined;
        try {
          got = runChanger(tr, o);
        } catch (err) {
          assert.ok(
            err instanceof ConfChangeError,
            `${ctx}: refused with a non-ConfChangeError: ${String(err)}`,
          );
        }
        assert.equal(got !== undefined, want !== undefined, `${ctx}: core ${got ? 'accepted' : 'refused'}`);
        if (got === undefined || want === undefined) return;
        assertSameConfig(got.config, want, ctx);
        tr.install(got.config, got.progress);
        assertInvariants(tr.confState(), ctx);
        // Every member, and only members, has a Progress.
        const members = new Set([...want.incoming, ...want.outgoing, ...want.learners, ...want.learnersNext]);
        assert.deepEqual(sorted(new Set(got.progress.keys())), sorted(members), `${ctx}: progress keys`);
        for (const l of want.learners)
          assert.equal(got.progress.get(l)?.isLearner, true, `${ctx}: ${l} isLearner`);
        model = want;
      });
    }),
    { numRuns: RUNS },
  );
});

test('leaving a joint configuration restores a simple one and turns learnersNext into learners', () => {
  fc.assert(
    fc.property(
      initialVoters,
      fc.array(single, { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      (voters, changes, autoLeave) => {
        const { tr } = bootstrap(voters);
        let entered: ReturnType<Changer['simple']>;
        try {
          entered = new Changer(tr, index(10)).enterJoint(autoLeave, changes);
        } catch (err) {
          assert.ok(err instanceof ConfChangeError);
          return;
        }
        tr.install(entered.config, entered.progress);
        assert.deepEqual(
          sorted(entered.config.outgoing),
          sorted(new Set(voters)),
          'outgoing = the old voters',
        );
        const next = new Set(entered.config.learnersNext);
        const left = new Changer(tr, index(10)).leaveJoint();
        assert.equal(left.config.outgoing.size, 0);
        assert.equal(left.config.learnersNext.size, 0);
        assert.equal(left.config.autoLeave, false);
        assert.deepEqual(sorted(left.config.incoming), sorted(entered.config.incoming), 'incoming unchanged');
        for (const id of next) assert.ok(left.config.learners.has(id), `learnerNext ${id} became a learner`);
        assert.deepEqual(
          sorted(left.config.learners),
          sorted(new Set([...entered.config.learners, ...next])),
          'no other learner appears',
        );
      },
    ),
    { numRuns: RUNS },
  );
});

test('restoreConfState rebuilds exactly the configuration a ConfState describes', () => {
  fc.assert(
    fc.property(initialVoters, fc.array(op, { maxLength: 15 }), (voters, ops) => {
      const { tr } = bootstrap(voters);
      for (const o of ops) {
        try {
          const r = runChanger(tr, o);
          tr.install(r.config, r.progress);
        } catch (err) {
          assert.ok(err instanceof ConfChangeError);
        }
      }
      const cs = tr.confState();
      const fresh = new ProgressTracker(16, 0);
      const r = restoreConfState(fresh, cs, index(10));
      fresh.install(r.config, r.progress);
      assert.deepEqual(fresh.confState(), cs);
    }),
    { numRuns: RUNS },
  );
});

test('encodeConfChange/decodeConfChange round-trip and are deterministic', () => {
  const cc = fc.record({
    changes: fc.array(
      fc.record({
        type: fc.constantFrom('addVoter' as const, 'addLearner' as const, 'removeNode' as const),
        nodeId: fc.string({ minLength: 1, maxLength: 12 }).map(nodeId),
      }),
      { maxLength: 6 },
    ),
    transition: fc.constantFrom('auto' as const, 'explicit' as const),
  });
  const ids = fc.array(fc.string({ minLength: 1, maxLength: 12 }).map(nodeId), { maxLength: 5 });
  const basis = fc.option(fc.tuple(ids, ids, ids, ids), { nil: undefined });
  fc.assert(
    fc.property(cc, basis, (generated, b) => {
      // Plain objects (fast-check builds records without a prototype).
      const plain: ConfChange = {
        changes: generated.changes.map((x) => ({ type: x.type, nodeId: x.nodeId })),
        transition: generated.transition,
      };
      const c: ConfChange =
        b === undefined
          ? plain
          : { ...plain, basis: { voters: b[0], votersOutgoing: b[1], learners: b[2], learnersNext: b[3] } };
      const bytes = encodeConfChange(c);
      assert.deepEqual(decodeConfChange(bytes), c);
      assert.deepEqual(encodeConfChange(decodeConfChange(bytes)), bytes);
      // A basis only adds to the bytes: the plain change is their prefix.
      const plainBytes = encodeConfChange(plain);
      assert.deepEqual(bytes.subarray(1, plainBytes.byteLength), plainBytes.subarray(1));
      for (let cut = 0; cut < bytes.byteLength; cut++) {
        assert.throws(() => decodeConfChange(bytes.subarray(0, cut)), ConfChangeError, `cut at ${cut}`);
      }
    }),
    { numRuns: RUNS },
  );
});

test('the entries of earlier releases (version 1, no basis) still decode', () => {
  // addLearner n4, auto: what every release before the basis wrote.
  const v1 = Uint8Array.from([1, 0, 0, 1, 1, 0, 2, 0x6e, 0x34]);
  assert.deepEqual(decodeConfChange(v1), {
    changes: [{ type: 'addLearner', nodeId: nodeId('n4') }],
    transition: 'auto',
  });
  assert.deepEqual(encodeConfChange(decodeConfChange(v1)), v1);
  const withBasis = encodeConfChange({
    changes: [{ type: 'addLearner', nodeId: nodeId('n4') }],
    transition: 'auto',
    basis: { voters: [nodeId('n1')], votersOutgoing: [], learners: [], learnersNext: [] },
  });
  assert.deepEqual(
    [...withBasis],
    [2, 0, 0, 1, 1, 0, 2, 0x6e, 0x34, 0, 1, 0, 2, 0x6e, 0x31, 0, 0, 0, 0, 0, 0],
  );
});

// ---- end to end through RawNode.applyConfChange ---------------------------------------------------------------

/** How many voters a change list adds or removes (what decides simple vs joint). */
function voterDelta(before: ConfState, changes: readonly ConfChangeSingle[]): number {
  const m: Model = {
    incoming: new Set(before.voters),
    outgoing: new Set(),
    learners: new Set(before.learners),
    learnersNext: new Set(),
    autoLeave: false,
  };
  for (const c of changes) applyToModel(m, c);
  let diff = 0;
  for (const id of IDS) if (before.voters.includes(id) !== m.incoming.has(id)) diff++;
  return diff;
}

test('RawNode.applyConfChange: random valid changes keep the invariants; joint only for >1 voter change or explicit', () => {
  const change = fc.record({
    changes: fc.array(single, { maxLength: 3 }),
    transition: fc.constantFrom('auto' as const, 'explicit' as const),
  });
  fc.assert(
    fc.property(initialVoters, fc.array(change, { maxLength: 12 }), (voters, ccs) => {
      const n = new TestNode({
        id: nodeId('1'),
        seed: 1,
        stream: 0,
        bootstrap: {
          index: index(1),
          confState: { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
        },
      });
      let cs = n.rn.status().confState;
      for (const cc of ccs) {
        const wasJoint = cs.votersOutgoing.length > 0;
        let next: ConfState;
        try {
          next = n.rn.applyConfChange(cc);
        } catch (err) {
          // Invalid changes (e.g. removing the last voter, a change while joint) are refused
          // with the typed error and leave the configuration as it was.
          assert.ok(err instanceof ConfChangeError, `refused with ${String(err)}`);
          assert.deepEqual(n.rn.status().confState, cs);
          continue;
        }
        const ctx = `${JSON.stringify(cs)} + ${JSON.stringify(cc)} -> ${JSON.stringify(next)}`;
        assertInvariants(next, ctx);
        assert.deepEqual(n.rn.status().confState, next, `${ctx}: status agrees with the returned ConfState`);
        if (cc.changes.length === 0) {
          assert.ok(wasJoint, `${ctx}: leaving a non-joint config must be refused`);
          assert.equal(next.votersOutgoing.length, 0, `${ctx}: left the joint config`);
        } else {
          assert.ok(!wasJoint, `${ctx}: a change while joint must be refused`);
          const joint = cc.transition === 'explicit' || voterDelta(cs, cc.changes) > 1;
          assert.equal(
            next.votersOutgoing.length > 0,
            joint,
            `${ctx}: joint iff explicit or >1 voter changes`,
          );
          if (joint) {
            assert.deepEqual(
              [...next.votersOutgoing].sort(),
              [...cs.voters].sort(),
              `${ctx}: outgoing = old voters`,
            );
            assert.equal(next.autoLeave, cc.transition === 'auto', `${ctx}: autoLeave`);
          }
        }
        cs = next;
      }
    }),
    { numRuns: 100 },
  );
});
