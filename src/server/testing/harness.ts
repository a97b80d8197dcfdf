// In-process nodes for tests: real WALs in temp dirs, GrpcTransport and the client server on free
// loopback ports. Every node started here is stopped by `stopAll`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { freePort } from '../../../test/support/ports.ts';
import type { NodeId } from '../../raft/types.ts';
import { GrpcTransport } from '../../transport/index.ts';
import { type RunningNode, type ServeOptions, startNode } from '../run.ts';
import type { ServerStreamCall } from '../server-stream.ts';
import { TestClient } from '../test-client.ts';

export interface TestNodeSpec {
  readonly nodeId: string;
  readonly bootstrap?: boolean;
  readonly joinAddr?: string;
  readonly extra?: Partial<ServeOptions>;
}

interface Slot {
  readonly spec: TestNodeSpec;
  readonly dir: string;
  readonly port: number;
  readonly raftPort: number;
  running: RunningNode | undefined;
}

export class TestCluster {
  private readonly slots = new Map<string, Slot>();
  private readonly clients: TestClient[] = [];
  private root = '';
  readonly fatalErrors: unknown[] = [];

  async init(): Promise<void> {
    this.root = await mkdtemp(join(tmpdir(), 'ringkv-node-test-'));
  }

  dirOf(nodeId: string): string {
    return join(this.root, nodeId);
  }

  /** Starts (or restarts, with the same dir and ports) a node. */
  async start(spec: TestNodeSpec): Promise<RunningNode> {
    let slot = this.slots.get(spec.nodeId);
    if (slot === undefined) {
      slot = {
        spec,
        dir: this.dirOf(spec.nodeId),
        port: await freePort(),
        raftPort: await freePort(),
        running: undefined,
      };
      this.slots.set(spec.nodeId, slot);
    }
    const logger = pino({ level: process.env['RINGKV_TEST_LOG'] ?? 'silent', base: { node: spec.nodeId } });
    const transport = new GrpcTransport({
      localId: spec.nodeId as NodeId,
      listenHost: '127.0.0.1',
      listenPort: slot.raftPort,
      logger,
    });
    slot.running = await startNode(
      {
        nodeId: spec.nodeId,
        raftDir: slot.dir,
        raftAddr: `127.0.0.1:${slot.raftPort}`,
        bootstrap: spec.bootstrap ?? false,
        joinAddr: spec.joinAddr,
        listenHost: '127.0.0.1',
        port: slot.port,
        advertiseHost: '127.0.0.1',
        logger,
        transport,
        shardCount: 4,
        tickMs: 50,
        balanceIntervalMs: 1000,
        ...spec.extra,
      },
      (e) => this.fatalErrors.push(e),
    );
    return slot.running;
  }

  node(nodeId: string): RunningNode {
    const r = this.slots.get(nodeId)?.running;
    if (r === undefined) throw new Error(`test node ${nodeId} is not running`);
    return r;
  }

  addr(nodeId: string): string {
    const s = this.slots.get(nodeId);
    if (s === undefined) throw new Error(`no test node ${nodeId}`);
    return `127.0.0.1:${s.port}`;
  }

  client(nodeId: string): TestClient {
    const c = new TestClient(this.addr(nodeId));
    this.clients.push(c);
    return c;
  }

  async stop(nodeId: string): Promise<void> {
    const s = this.slots.get(nodeId);
    await s?.running?.stop();
    if (s !== undefined) s.running = undefined;
  }

  async stopAll(): Promise<void> {
    for (const c of this.clients) c.close();
    for (const id of this.slots.keys()) await this.stop(id);
    if (this.root !== '') await rm(this.root, { recursive: true, force: true });
  }
}

/** Polls `cond` every 50 ms until it holds or `timeoutMs` passes (then throws with `what`). */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await cond()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Polls `f` every 50 ms until it returns a value (not undefined), or throws naming `what` after `timeoutMs`. */
export async function valueWithin<T>(what: string, timeoutMs: number, f: () => T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A server-stream call that keeps every frame written and how it ended (for handlers called directly). */
export function collectingCall(): {
  readonly call: ServerStreamCall;
  readonly frames: Uint8Array[];
  ended(): { code: number; details: string } | undefined;
} {
  const frames: Uint8Array[] = [];
  let ended: { code: number; details: string } | undefined;
  const call: ServerStreamCall = {
    write: (f) => {
      frames.push(f);
      return true;
    },
    end: (status) => {
      ended = status ?? { code: 0, details: '' };
    },
    onClose: () => {},
  };
  return { call, frames, ended: () => ended };
}
