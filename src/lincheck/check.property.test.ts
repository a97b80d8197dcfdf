// Histories that are linearizable by construction: run a sequential KV map, give operation i the
// linearization point 10·i, and stretch its interval randomly around that point (so intervals
// overlap and the checker has to find the order). Some writes are indeterminate: they either took
// effect at their point or were lost, and their return is left open.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkOperations } from './check.ts';
import { kvModel, registerModel } from './models.ts';
import type {
  KvInput,
  KvOperation,
  KvOutput,
  RegisterInput,
  RegisterOperation,
  RegisterOutput,
} from './types.ts';

const KEYS = ['a', 'b', 'c'];
const VALUES = ['x', 'y', 'z', ''];
/** Never produced by put/append/cas over VALUES, so no linearization can explain reading it. */
const IMPOSSIBLE = 'IMPOSSIBLE';

type Fate = 'ok' | 'indeterminate-applied' | 'indeterminate-lost';

interface Command {
  readonly input: KvInput;
  readonly fate: Fate;
  readonly before: number;
  readonly after: number;
}

const inputArb: fc.Arbitrary<KvInput> = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), key: fc.constantFrom(...KEYS) }),
  fc.record({
    kind: fc.constant('put' as const),
    key: fc.constantFrom(...KEYS),
    value: fc.constantFrom(...VALUES),
  }),
  fc.record({
    kind: fc.constant('append' as const),
    key: fc.constantFrom(...KEYS),
    value: fc.constantFrom(...VALUES),
  }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }),
  fc.record({
    kind: fc.constant('cas' as const),
    key: fc.constantFrom(...KEYS),
    expected: fc.constantFrom<string | null>(null, ...VALUES),
    value: fc.constantFrom(...VALUES),
  }),
);

function commandsArb(maxJitter: number): fc.Arbitrary<Command[]> {
  const command = fc.record({
    input: inputArb,
    fate: fc.constantFrom<Fate>('ok', 'ok', 'ok', 'ok', 'indeterminate-applied', 'indeterminate-lost'),
    before: fc.integer({ min: 0, max: maxJitter }),
    after: fc.integer({ min: 0, max: maxJitter }),
  });
  // The last command is always an observed get, so the corruption test has something to corrupt.
  const lastGet = fc.record({
    input: fc.record({ kind: fc.constant('get' as const), key: fc.constantFrom(...KEYS) }),
    fate: fc.constant<Fate>('ok'),
    before: fc.integer({ min: 0, max: maxJitter }),
    after: fc.integer({ min: 0, max: maxJitter }),
  });
  return fc
    .tuple(fc.array(command, { maxLength: 40, size: 'max' }), lastGet)
    .map(([cs, last]) => [...cs, last]);
}

/** Applies the commands in order to a sequential map and records what clients would have seen. */
function buildHistory(commands: readonly Command[]): KvOperation[] {
  const states = new Map<string, string | null>();
  return commands.map((c, i) => {
    const isRead = c.input.kind === 'get';
    const fate: Fate = isRead ? 'ok' : c.fate; // an indeterminate read is just a read with an unknown output
    let output: KvOutput | undefined;
    if (fate !== 'indeterminate-lost') {
      const state = states.get(c.input.key) ?? kvModel.init();
      output = outputOf(state, c.input);
      const step = kvModel.step(state, c.input, output);
      assert.ok(step.legal, `the model rejects its own output for ${JSON.stringify(c.input)}`);
      states.set(c.input.key, step.next);
    }
    const pointTime = 100 + 10 * i;
    const open = fate !== 'ok';
    return {
      clientId: i,
      input: c.input,
      output: open ? undefined : output,
      callTime: pointTime - c.before,
      returnTime: open ? Number.POSITIVE_INFINITY : pointTime + c.after,
    };
  });
}

function outputOf(state: string | null, input: KvInput): KvOutput {
  switch (input.kind) {
    case 'get':
      return { kind: 'get', found: state !== null, value: state ?? '' };
    case 'put':
      return { kind: 'put' };
    case 'append':
      return { kind: 'append' };
    case 'delete':
      return { kind: 'delete', deleted: state !== null };
    case 'cas':
      return { kind: 'cas', succeeded: input.expected === null ? state === null : state === input.expected };
  }
}

for (const [name, maxJitter] of [
  ['non-overlapping', 4],
  ['overlapping', 35],
] as const) {
  test(`property: ${name} histories of a sequential KV map are linearizable`, () => {
    fc.assert(
      fc.property(commandsArb(maxJitter), (commands) => {
        const result = checkOperations(kvModel, buildHistory(commands), { budgetMsPerPartition: 60_000 });
        assert.equal(result.verdict, 'linearizable');
      }),
      { numRuns: 200 },
    );
  });

  test(`property: ${name} histories with one read changed to an impossible value are not linearizable`, () => {
    fc.assert(
      fc.property(commandsArb(maxJitter), fc.nat(), (commands, pick) => {
        const history = buildHistory(commands);
        const reads = history.flatMap((op, i) =>
          op.input.kind === 'get' && op.output !== undefined ? [i] : [],
        );
        const victim = reads[pick % reads.length]!;
        const op = history[victim]!;
        history[victim] = { ...op, output: { kind: 'get', found: true, value: IMPOSSIBLE } };
        const result = checkOperations(kvModel, history, { budgetMsPerPartition: 60_000 });
        assert.equal(result.verdict, 'not linearizable');
        assert.equal(result.violation?.blocked.operation.input.key, op.input.key);
      }),
      { numRuns: 200 },
    );
  });
}

// An independent oracle: try every order of the operations that respects real time (a precedes b
// iff a returned strictly before b was called; an open operation precedes nothing).
function bruteForceLinearizable(ops: readonly RegisterOperation[]): boolean {
  const used = new Array<boolean>(ops.length).fill(false);
  const extend = (state: number | null, placed: number): boolean => {
    if (placed === ops.length) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const op = ops[i]!;
      // op may go next only if no other unplaced operation had to come before it.
      if (ops.some((other, j) => !used[j] && j !== i && other.returnTime < op.callTime)) continue;
      const step = registerModel.step(state, op.input, op.output);
      if (!step.legal) continue;
      used[i] = true;
      const ok = extend(step.next, placed + 1);
      used[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return extend(registerModel.init(), 0);
}

const value = fc.integer({ min: 0, max: 2 });
const registerOpArb: fc.Arbitrary<RegisterOperation> = fc
  .record({
    clientId: fc.nat(3),
    input: fc.oneof(
      fc.constant<RegisterInput>({ kind: 'read' }),
      value.map((v): RegisterInput => ({ kind: 'write', value: v })),
      fc.tuple(value, value).map(([from, to]): RegisterInput => ({ kind: 'cas', from, to })),
    ),
    exists: fc.boolean(),
    readValue: value,
    ok: fc.boolean(),
    callTime: fc.integer({ min: 0, max: 20 }),
    durationTime: fc.integer({ min: 0, max: 10 }),
    open: fc.integer({ min: 0, max: 6 }).map((x) => x === 0),
  })
  .map((r) => {
    let output: RegisterOutput | undefined;
    if (r.input.kind === 'read')
      output = { kind: 'read', exists: r.exists, value: r.exists ? r.readValue : 0 };
    else if (r.input.kind === 'write') output = { kind: 'write' };
    else output = { kind: 'cas', ok: r.ok };
    return {
      clientId: r.clientId,
      input: r.input,
      output: r.open ? undefined : output,
      callTime: r.callTime,
      returnTime: r.open ? Number.POSITIVE_INFINITY : r.callTime + r.durationTime,
    };
  });

test('property: on small random register histories the search agrees with brute force', () => {
  const verdicts = { linearizable: 0, not: 0 };
  fc.assert(
    fc.property(fc.array(registerOpArb, { maxLength: 7, size: 'max' }), (ops) => {
      const expected = bruteForceLinearizable(ops);
      const result = checkOperations(registerModel, ops);
      assert.equal(result.verdict, expected ? 'linearizable' : 'not linearizable');
      verdicts[expected ? 'linearizable' : 'not']++;
    }),
    { numRuns: 1000 },
  );
  // Both answers must actually occur, or the comparison says little.
  assert.ok(verdicts.linearizable > 100 && verdicts.not > 100, JSON.stringify(verdicts));
});
