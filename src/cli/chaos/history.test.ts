import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkOperations, kvModel, parseJepsenKv } from '../../lincheck/index.ts';
import { HistoryRecorder, jepsenKvLine, operationsOf } from './history.ts';

describe('chaos history', () => {
  test('ok operations keep their output, info ones are indeterminate, fail ones are left out', () => {
    const h = new HistoryRecorder();
    const a = h.invoke(0, { kind: 'put', key: 'k', value: 'v' });
    const b = h.invoke(1, { kind: 'get', key: 'k' });
    h.ok(a, { kind: 'put' });
    h.fail(b, 'UNAVAILABLE');
    const c = h.invoke(2, { kind: 'put', key: 'k', value: 'w' });
    h.info(c, 'INDETERMINATE');
    const ops = operationsOf(h.events);
    assert.deepEqual(ops, [
      {
        clientId: 0,
        input: { kind: 'put', key: 'k', value: 'v' },
        output: { kind: 'put' },
        callTime: 0,
        returnTime: 2,
      },
      {
        clientId: 2,
        input: { kind: 'put', key: 'k', value: 'w' },
        output: undefined,
        callTime: 4,
        returnTime: Number.POSITIVE_INFINITY,
      },
    ]);
    assert.deepEqual([h.okCount, h.failCount, h.infoCount], [1, 1, 1]);
  });

  test('a process has one call open at a time, and an outcome needs its call', () => {
    const h = new HistoryRecorder();
    const a = h.invoke(0, { kind: 'get', key: 'k' });
    assert.throws(() => h.invoke(0, { kind: 'get', key: 'k' }), /already has an open call/);
    h.ok(a, { kind: 'get', found: false, value: '' });
    assert.throws(() => h.ok(a, { kind: 'get', found: false, value: '' }), /no such open call/);
    const b = h.invoke(0, { kind: 'put', key: 'k', value: 'v' });
    assert.throws(() => h.ok(b, { kind: 'get', found: false, value: '' }), /cannot return/);
  });

  test('get and put lines read back through the jepsen-kv parser as the same operations', () => {
    const h = new HistoryRecorder();
    const a = h.invoke(0, { kind: 'put', key: 'k', value: 'say "hi"\\' });
    const b = h.invoke(1, { kind: 'get', key: 'k' });
    h.ok(a, { kind: 'put' });
    h.ok(b, { kind: 'get', found: true, value: 'say "hi"\\' });
    const c = h.invoke(2, { kind: 'put', key: 'j', value: 'x' });
    h.info(c, 'INDETERMINATE');
    const d = h.invoke(3, { kind: 'put', key: 'j', value: 'y' });
    h.fail(d, 'UNAVAILABLE');
    const text = h.events.map(jepsenKvLine).join('\n');
    const parsed = parseJepsenKv(text).operations;
    const ours = operationsOf(h.events);
    const shape = (o: (typeof ours)[number]) => [o.clientId, o.input, o.callTime, o.returnTime];
    assert.deepEqual(parsed.map(shape), ours.map(shape));
    assert.deepEqual(
      parsed.map((o) => o.output),
      ours.map((o) => o.output),
    );
  });

  test('delete, compare-and-swap, absent reads and errors as jepsen-kv lines', () => {
    let clock = 0;
    const h = new HistoryRecorder(() => (clock += 0.5));
    const a = h.invoke(4, { kind: 'cas', key: 'k', expected: null, value: 'n' });
    h.ok(a, { kind: 'cas', succeeded: false });
    const b = h.invoke(3, { kind: 'delete', key: 'k' });
    h.ok(b, { kind: 'delete', deleted: true });
    const c = h.invoke(5, { kind: 'get', key: 'k' });
    h.ok(c, { kind: 'get', found: false, value: '' });
    const d = h.invoke(6, { kind: 'cas', key: 'k', expected: 'o', value: 'n' });
    h.info(d, 'INDETERMINATE');
    assert.deepEqual(h.events.map(jepsenKvLine), [
      '{:process 4, :type :invoke, :f :cas, :key "k", :expected nil, :value "n", :time 500000}',
      '{:process 4, :type :ok, :f :cas, :key "k", :expected nil, :value "n", :succeeded false, :time 1000000}',
      '{:process 3, :type :invoke, :f :delete, :key "k", :value nil, :time 1500000}',
      '{:process 3, :type :ok, :f :delete, :key "k", :value nil, :deleted true, :time 2000000}',
      '{:process 5, :type :invoke, :f :get, :key "k", :value nil, :time 2500000}',
      '{:process 5, :type :ok, :f :get, :key "k", :value nil, :time 3000000}',
      '{:process 6, :type :invoke, :f :cas, :key "k", :expected "o", :value "n", :time 3500000}',
      '{:process 6, :type :info, :f :cas, :key "k", :expected "o", :value "n", :error "INDETERMINATE", :time 4000000}',
    ]);
  });

  test('the checker sees a stale read in a recorded history', () => {
    // put k=a and put k=b complete one after the other; a later read still returns a.
    const h = new HistoryRecorder();
    const a = h.invoke(0, { kind: 'put', key: 'k', value: 'a' });
    h.ok(a, { kind: 'put' });
    const b = h.invoke(1, { kind: 'put', key: 'k', value: 'b' });
    h.ok(b, { kind: 'put' });
    const r = h.invoke(2, { kind: 'get', key: 'k' });
    h.ok(r, { kind: 'get', found: true, value: 'a' });
    assert.equal(checkOperations(kvModel, operationsOf(h.events)).verdict, 'not linearizable');
  });
});
