// Eight concurrent clients do put/get/cas on 20 keys while the node leading the
// most shards is SIGKILLed and restarted; the recorded history must be linearizable according to
// src/lincheck. A write whose answer was lost is recorded as indeterminate (output undefined,
// return time Infinity); a failure that certainly had no effect (a failed read, a write the
// client reports UNAVAILABLE) is left out, since it did nothing. The nodes serve their client port
// from the worker thread (`--client_api_thread=worker`); every other process test runs inline.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  bytesToUtf8,
  CancelledError,
  DeadlineExceededError,
  IndeterminateError,
  type RingkvClient,
  RingkvError,
  UnavailableError,
} from '../../src/client/index.ts';
import {
  checkOperations,
  formatViolation,
  type KvInput,
  type KvOperation,
  type KvOutput,
  kvModel,
} from '../../src/lincheck/index.ts';
import { ProcessCluster, sleep } from './harness.ts';

const WORKERS = 8;
const KEYS = 20;
const OP_TIMEOUT_MS = 3000;
/** Per worker, whatever the clock says. */
const OPS_PER_WORKER_MAX = 3000;
const SEED = Number(process.env.RINGKV_LIN_SEED ?? 7);

/** mulberry32: a small seeded PRNG, so the operation mix is reproducible from SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Recorder {
  readonly ops: KvOperation[];
  /** Operations that succeeded while the node was down. */
  duringOutage: number;
  outage: boolean;
  unexpected: string[];
}

async function runOne(client: RingkvClient, input: KvInput): Promise<KvOutput> {
  const opts = { timeoutMs: OP_TIMEOUT_MS };
  switch (input.kind) {
    case 'get': {
      const r = await client.get(input.key, opts);
      return { kind: 'get', found: r.found, value: r.found ? bytesToUtf8(r.value) : '' };
    }
    case 'put':
      await client.put(input.key, input.value, opts);
      return { kind: 'put' };
    case 'cas': {
      const expected = input.expected === null ? ({ absent: true } as const) : { value: input.expected };
      const r = await client.compareAndSwap(input.key, expected, input.value, opts);
      return { kind: 'cas', succeeded: r.succeeded };
    }
    default:
      throw new Error(`not generated: ${input.kind}`);
  }
}

/** One worker: a loop of random operations until `endMs`; a new client id after an indeterminate write. */
async function worker(w: number, client: RingkvClient, endMs: number, rec: Recorder): Promise<void> {
  const random = prng(SEED * 1000 + w);
  const seen = new Map<string, string | null>();
  let clientId = w * 1000;
  for (let n = 0; n < OPS_PER_WORKER_MAX && Date.now() < endMs; n++) {
    const key = `k${Math.floor(random() * KEYS)}`;
    const r = random();
    const value = `w${w}-${n}`;
    const input: KvInput =
      r < 0.45
        ? { kind: 'get', key }
        : r < 0.8
          ? { kind: 'put', key, value }
          : { kind: 'cas', key, expected: seen.get(key) ?? null, value };
    const callTime = performance.now();
    try {
      const output = await runOne(client, input);
      rec.ops.push({ clientId, input, output, callTime, returnTime: performance.now() });
      if (rec.outage) rec.duringOutage++;
      if (output.kind === 'get') seen.set(key, output.found ? output.value : null);
      if (input.kind === 'put' || (output.kind === 'cas' && output.succeeded)) seen.set(key, value);
    } catch (e) {
      if (!(e instanceof RingkvError)) throw e;
      const write = input.kind !== 'get';
      if (
        write &&
        (e instanceof IndeterminateError || e instanceof DeadlineExceededError || e instanceof CancelledError)
      ) {
        rec.ops.push({ clientId, input, output: undefined, callTime, returnTime: Number.POSITIVE_INFINITY });
        clientId++;
      } else if (!(e instanceof UnavailableError || e instanceof DeadlineExceededError)) {
        rec.unexpected.push(`${input.kind} ${key}: ${e.code} ${e.message}`);
      }
      await sleep(20);
    }
  }
}

describe('linearizability with real processes', { timeout: 120_000 }, () => {
  let c: ProcessCluster;

  before(async () => {
    c = await ProcessCluster.start({
      extraArgs: ['--request_timeout_ms', '2500', '--client_api_thread=worker'],
    });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('7. 8 clients, 20 keys, put/get/cas while a node is killed and restarted: linearizable', async (t) => {
    const rec: Recorder = { ops: [], duringOutage: 0, outage: false, unexpected: [] };
    const clients = Array.from({ length: WORKERS }, () => c.client({ defaultTimeoutMs: OP_TIMEOUT_MS }));
    const endMs = Date.now() + 14_000;
    const running = Promise.all(clients.map((cl, w) => worker(w, cl, endMs, rec)));
    await sleep(3000);
    const led = await c.leadersByNode();
    const victim = [...c.nodes].sort(
      (a, b) => (led.get(b.name)?.length ?? 0) - (led.get(a.name)?.length ?? 0),
    )[0]!;
    await victim.kill('SIGKILL');
    rec.outage = true;
    await sleep(3000);
    rec.outage = false;
    victim.start();
    await c.waitAnswers(victim, 20_000);
    await running;

    const completed = rec.ops.filter((o) => o.output !== undefined).length;
    const indeterminate = rec.ops.length - completed;
    const result = checkOperations(kvModel, rec.ops, { budgetMsPerPartition: 20_000 });
    const detail =
      `seed ${SEED}: ${completed} completed, ${indeterminate} indeterminate, ${rec.duringOutage} completed ` +
      `while ${victim.name} was down`;
    t.diagnostic(`${detail}; verdict ${result.verdict}`);
    if (result.violation !== undefined)
      assert.fail(`${detail}\n${formatViolation(result.violation).join('\n')}`);
    assert.equal(result.verdict, 'linearizable', detail);
    assert.deepEqual(rec.unexpected, [], detail);
    assert.ok(completed >= 200, `too few operations completed to mean much: ${detail}`);
    assert.ok(rec.duringOutage >= 20, `too few operations completed during the outage: ${detail}`);
  });
});
