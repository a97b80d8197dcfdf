// A short, scripted tour of three real nodes (src/node's KvNode) in the simulator's world, for
// `npm run demo` / `ringkv demo`: n1 bootstraps a cluster and n2, n3 join it, writes commit, a
// follower crashes and catches up after its restart, the leader crashes and another is elected,
// linearizable reads are served, and at the end every replica holds the same state and the history
// is linearizable. The simulator's safety checks (real/checks.ts) watch every event.
import type { KvInput, KvOperation, KvOutput } from '../lincheck/index.ts';
import { checkOperations, kvModel } from '../lincheck/index.ts';
import { shardId } from '../node/ids.ts';
import { getValue, read, write } from '../node/requests.ts';
import { hashBytes } from './hash.ts';
import { CALM_NETWORK } from './network.ts';
import { NodeChecks } from './real/checks.ts';
import type { Incarnation, Machine } from './real/node-slot.ts';
import { World } from './real/world.ts';

/** Every step of the script must finish within this much virtual time. */
const STEP_TIMEOUT_MS = 30_000;
/** The one data shard: every key is in it. */
const SHARD = 1;
const REQUEST_TIMEOUT_MS = 2_000;

export interface DemoResult {
  readonly lines: readonly string[];
  readonly ok: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class DemoScript {
  readonly world: World;
  readonly history: KvOperation[] = [];
  readonly lines: string[] = [];

  constructor(seed: number) {
    this.world = new World({
      seed,
      nodes: 3,
      node: {
        shardCount: 1,
        tickMs: 100,
        electionTick: 10,
        heartbeatTick: 1,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        // Small, so that the restarted follower is sent a snapshot for what the leader compacted.
        snapshotEveryEntries: 8,
        retainEntries: 2,
        walSegmentBytes: 64 * 1024,
        walSegmentsKept: 2,
        balanceIntervalMs: 0,
      },
      diskLatency: { minMs: 0, maxMs: 2 },
      diskCapacityBytes: 64 * 1024 * 1024,
      diskTearing: 'prefix',
      keepTrace: false,
    });
    this.world.network.setConditions({ ...CALM_NETWORK, delayMaxMs: 15, reorderDelayMaxMs: 15 });
    new NodeChecks(this.world);
  }

  say(line: string): void {
    this.lines.push(`[${(this.world.nowMs() / 1000).toFixed(2).padStart(5)} s] ${line}`);
  }

  async until(what: string, cond: () => boolean): Promise<void> {
    if (!(await this.world.runUntil(cond, this.world.nowMs() + STEP_TIMEOUT_MS)))
      throw new Error(`demo: timed out waiting for ${what}`);
  }

  /** The running machine that leads the data shard, if any. */
  leader(): Machine | undefined {
    return this.world.machines.find((m) => m.running?.kv.status(shardId(SHARD))?.role === 'leader');
  }

  async led(): Promise<Machine> {
    await this.until('a leader', () => this.leader() !== undefined);
    return this.leader() as Machine;
  }

  /** Every machine runs, has joined, and has applied the data shard up to its leader's commit. */
  async settle(): Promise<void> {
    await this.until('the replicas to catch up', () => {
      const commit = this.leader()?.running?.kv.status(shardId(SHARD))?.commit;
      return (
        commit !== undefined &&
        this.world.machines.every((m) => m.running?.joined === true && applied(m.running) === commit)
      );
    });
  }

  /** One operation entering at `m` (a write through the shard's log, a get through ReadIndex), awaited. */
  async op(m: Machine, input: DemoInput): Promise<KvOutput> {
    const inc = m.running;
    if (inc === undefined) throw new Error(`demo: ${m.id} is not running`);
    const callTime = this.world.nowMs();
    let output: KvOutput | undefined;
    let failure: unknown;
    void serve(inc, input, callTime + REQUEST_TIMEOUT_MS).then(
      (o) => {
        output = o;
      },
      (e: unknown) => {
        failure = e;
      },
    );
    await this.until(describe(input), () => output !== undefined || failure !== undefined);
    if (output === undefined)
      throw new Error(`demo: ${describe(input)} at ${m.id} failed: ${String(failure)}`);
    this.history.push({ clientId: 1, input, output, callTime, returnTime: this.world.nowMs() });
    return output;
  }
}

function applied(inc: Incarnation): number | undefined {
  return inc.kv.status(shardId(SHARD))?.applied;
}

/** The operations the script runs. */
type DemoInput = Extract<KvInput, { kind: 'put' | 'cas' | 'delete' | 'get' }>;

async function serve(inc: Incarnation, input: DemoInput, deadlineMs: number): Promise<KvOutput> {
  const key = encoder.encode(input.key);
  switch (input.kind) {
    case 'get': {
      const r = await read(inc.kv, SHARD, false, deadlineMs, (m) => getValue(m, key)?.value);
      const found = r.value !== undefined;
      return { kind: 'get', found, value: r.value === undefined ? '' : decoder.decode(r.value) };
    }
    case 'put':
      await write(inc.kv, SHARD, { op: 'put', key, value: encoder.encode(input.value) }, deadlineMs);
      return { kind: 'put' };
    case 'delete': {
      const { result } = await write(inc.kv, SHARD, { op: 'delete', key }, deadlineMs);
      return { kind: 'delete', deleted: result.deleted };
    }
    case 'cas': {
      const expect =
        input.expected === null
          ? ({ kind: 'absent' } as const)
          : ({ kind: 'value', value: encoder.encode(input.expected) } as const);
      const value = encoder.encode(input.value);
      const { result } = await write(inc.kv, SHARD, { op: 'cas', key, expect, value }, deadlineMs);
      return { kind: 'cas', succeeded: result.ok };
    }
  }
}

function describe(input: DemoInput): string {
  return input.kind === 'put' || input.kind === 'cas'
    ? `${input.kind} ${input.key}=${input.value}`
    : `${input.kind} ${input.key}`;
}

export async function runDemo(seed: number): Promise<DemoResult> {
  const d = new DemoScript(seed);
  try {
    await script(d);
    return { lines: d.lines, ok: true };
  } catch (err) {
    d.say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
    return { lines: d.lines, ok: false };
  }
}

async function script(d: DemoScript): Promise<void> {
  const w = d.world;
  for (const m of w.machines) w.schedule(0, () => m.start());
  await d.settle();
  const first = await d.led();
  const term = first.running?.kv.status(shardId(SHARD))?.term;
  d.say(`n1 bootstrapped a cluster, n2 and n3 joined it; ${first.id} leads the data shard in term ${term}`);
  await d.op(first, { kind: 'put', key: 'user:1', value: 'alice' });
  await d.op(first, { kind: 'put', key: 'user:2', value: 'bob' });
  await d.op(first, { kind: 'put', key: 'counter', value: '1' });
  const cas = await d.op(first, { kind: 'cas', key: 'counter', expected: '1', value: '2' });
  d.say(
    `4 writes committed (the compare-and-swap ${cas.kind === 'cas' && cas.succeeded ? 'succeeded' : 'failed'})`,
  );
  const follower = w.machines.find((m) => m !== first) as Machine;
  w.crash(follower);
  d.say(`${follower.id} crashed (kill -9: only what its disk synced survives)`);
  for (let i = 0; i < 12; i++)
    await d.op(await d.led(), { kind: 'put', key: `item:${i % 4}`, value: `v${i}` });
  d.say(`12 more writes committed by the remaining majority while ${follower.id} was down`);
  follower.start();
  await d.settle();
  d.say(
    `${follower.id} restarted from its disk and caught up to index ${applied(follower.running as Incarnation)}`,
  );
  const old = await d.led();
  w.crash(old);
  await d.until('a new leader', () => d.leader() !== undefined);
  const next = d.leader() as Machine;
  d.say(
    `leader ${old.id} crashed; ${next.id} was elected in term ${next.running?.kv.status(shardId(SHARD))?.term}`,
  );
  await d.op(next, { kind: 'delete', key: 'user:2' });
  old.start();
  await d.settle();
  d.say(`${old.id} restarted and rejoined as a follower`);
  const reader = w.machines.find((m) => m !== next) as Machine;
  const a = await d.op(next, { kind: 'get', key: 'user:1' });
  const b = await d.op(reader, { kind: 'get', key: 'user:2' });
  d.say(
    `linearizable reads (ReadIndex): user:1 = ${a.kind === 'get' && a.found ? a.value : 'absent'} at ${next.id}, ` +
      `user:2 = ${b.kind === 'get' && b.found ? b.value : 'absent'} at follower ${reader.id}`,
  );
  await finalChecks(d);
}

async function finalChecks(d: DemoScript): Promise<void> {
  await d.settle();
  const states = new Set<string>();
  let at: number | undefined;
  for (const m of d.world.machines) {
    const inc = m.running as Incarnation;
    const r = await inc.kv.read(shardId(SHARD), {
      consistency: 'serializable',
      deadlineMs: d.world.nowMs() + 1,
      onTimeout: () => {
        throw new Error('a serializable read does not wait');
      },
      run: (machine) => hashBytes(machine.snapshot()),
    });
    states.add(`${r.index}:${r.value}`);
    at = r.index;
  }
  if (states.size !== 1) throw new Error(`the replicas hold different states: ${[...states].join(', ')}`);
  d.say(
    `all 3 nodes applied the data shard to index ${at} and hold identical state (hash ${[...states][0]?.split(':')[1]?.slice(0, 12)})`,
  );
  const verdict = checkOperations(kvModel, d.history).verdict;
  if (verdict !== 'linearizable') throw new Error(`the history is ${verdict}`);
  d.say(
    `the history of ${d.history.length} operations is linearizable; the safety checks held at all ${d.world.events} events`,
  );
}
