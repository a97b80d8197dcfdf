// Real-process test harness: ringkv nodes as child processes on loopback (free ports, temp data
// dirs), started, stopped, SIGKILLed, paused and resumed by pid; waits that are always bounded;
// and a runner for the CLI. Every child is killed by pid in cleanup(), and again at process exit
// as a last resort, so a failing test never leaves a node behind.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { localServeArgs } from '../../src/cli/commands/start.ts';
import {
  type ClientTls,
  RingkvClient,
  type RingkvClientOptions,
  type StatusResponse,
} from '../../src/client/index.ts';
import { freePorts } from '../support/ports.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const NODE_BIN = join(ROOT, 'node_modules', '.bin', 'node');
export const MAIN_TS = join(ROOT, 'src', 'cli', 'main.ts');

/** Lines of output kept per node for failure messages. */
const LOG_LINES_MAX = 400;
/**
 * RINGKV_TEST_LOGS=DIR: every node's whole output is also appended to DIR/<test process pid>-<node>.log
 * (an existing directory), for reading a run's logs after it; unset, only the last lines are kept.
 */
const LOG_DIR = process.env.RINGKV_TEST_LOGS || undefined;

function withoutTestLogs(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { RINGKV_TEST_LOGS: _, ...rest } = env;
  return rest;
}
/** After SIGTERM, how long a node gets before SIGKILL. */
const STOP_GRACE_MS = 10_000;

const livePids = new Set<number>();
process.once('exit', () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `p`'s value, or undefined after `ms`; the timer is cleared either way (it must not hold the process). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Thrown by a waitUntil check to stop waiting at once (e.g. the process being waited for exited). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined, or throws at the
 * bound. A check that throws is retried, unless it throws GiveUp.
 */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${e.message}`);
      lastError = e;
    }
    await sleep(intervalMs);
  }
  const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
}

/** One `ringkv serve` process (restartable with the same command line). */
export class ProcessNode {
  readonly name: string;
  readonly port: number;
  readonly raftPort: number;
  /**
   * The admin port planned for it (ProcessCluster.plan passes it as --admin_port); 0 when the node
   * was planned without one (then its arguments must say --admin_port themselves).
   */
  readonly adminPort: number;
  /** The exact `serve` arguments; restart() uses them again. */
  readonly args: readonly string[];
  readonly cwd: string;
  /** Variables added to the inherited environment of every start (e.g. RINGKV_PORT). */
  env: Record<string, string> = {};
  child: ChildProcess | undefined;
  private exitPromise: Promise<{ code: number | null; signal: string | null }> | undefined;
  readonly output: string[] = [];
  private partial = '';
  /** Exit status of the last run (undefined while running or never started). */
  lastExit: { code: number | null; signal: string | null } | undefined;

  constructor(
    name: string,
    port: number,
    raftPort: number,
    args: readonly string[],
    cwd: string,
    adminPort = 0,
  ) {
    this.name = name;
    this.port = port;
    this.raftPort = raftPort;
    this.args = args;
    this.cwd = cwd;
    this.adminPort = adminPort;
  }

  get endpoint(): string {
    return `localhost:${this.port}`;
  }

  /** The admin port's base URL (http://127.0.0.1:P), when it has one. */
  get adminUrl(): string {
    if (this.adminPort === 0) throw new Error(`${this.name} was planned without an admin port`);
    return `http://127.0.0.1:${this.adminPort}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.lastExit === undefined;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error(`${this.name} has no process`);
    return pid;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.child?.pid})`);
    this.lastExit = undefined;
    const child = spawn(NODE_BIN, [MAIN_TS, 'serve', ...this.args], {
      cwd: this.cwd,
      // RINGKV_TEST_LOGS is the harness's, not a serve setting (serve warns of unknown RINGKV_ names).
      env: { ...withoutTestLogs(process.env), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) livePids.add(child.pid);
    const env = Object.entries(this.env).map(([k, v]) => `${k}=${v} `);
    this.output.push(`--- start pid ${child.pid}: ${env.join('')}serve ${this.args.join(' ')}`);
    child.stdout.on('data', (b: Buffer) => this.collect(b));
    child.stderr.on('data', (b: Buffer) => this.collect(b));
    this.exitPromise = new Promise((res) =>
      child.once('exit', (code, signal) => {
        if (child.pid !== undefined) livePids.delete(child.pid);
        this.lastExit = { code, signal };
        this.output.push(`--- exit code ${code} signal ${signal}`);
        res({ code, signal });
      }),
    );
    this.child = child;
  }

  private collect(b: Buffer): void {
    const lines = (this.partial + b.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    this.output.push(...lines);
    if (LOG_DIR !== undefined)
      appendFileSync(join(LOG_DIR, `${process.pid}-${this.name}.log`), lines.map((l) => `${l}\n`).join(''));
    if (this.output.length > LOG_LINES_MAX) this.output.splice(0, this.output.length - LOG_LINES_MAX);
  }

  /** The last lines of output, for failure messages. */
  tail(lines = 30): string {
    return `${this.name}:\n  ${this.output.slice(-lines).join('\n  ')}`;
  }

  /** Sends `signal` by pid and waits (bounded) for the exit. */
  async kill(
    signal: NodeJS.Signals = 'SIGKILL',
    timeoutMs = 10_000,
  ): Promise<{ code: number | null; signal: string | null }> {
    if (!this.running || this.exitPromise === undefined) throw new Error(`${this.name} is not running`);
    process.kill(this.pid, signal);
    const exited = await within(this.exitPromise, timeoutMs);
    if (exited === undefined)
      throw new Error(`${this.name} did not exit within ${timeoutMs} ms of ${signal}`);
    return exited;
  }

  /** Graceful stop: SIGTERM, then SIGKILL after the grace period. Returns the exit status. */
  async stop(): Promise<{ code: number | null; signal: string | null }> {
    if (!this.running || this.exitPromise === undefined) throw new Error(`${this.name} is not running`);
    process.kill(this.pid, 'SIGCONT');
    process.kill(this.pid, 'SIGTERM');
    const exited = await within(this.exitPromise, STOP_GRACE_MS);
    if (exited !== undefined) return exited;
    process.kill(this.pid, 'SIGKILL');
    return this.exitPromise;
  }

  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  /** Kills the process by pid if it still runs (SIGCONT first, in case it is paused). */
  async forceKill(): Promise<void> {
    if (!this.running) return;
    try {
      process.kill(this.pid, 'SIGCONT');
      process.kill(this.pid, 'SIGKILL');
    } catch {
      return;
    }
    if (this.exitPromise !== undefined) await within(this.exitPromise, 5000);
  }
}

export interface ClusterOptions {
  readonly nodes?: number;
  /** Extra `serve` flags for every node (e.g. --request_timeout_ms 2000). */
  readonly extraArgs?: readonly string[];
  /** Extra `serve` flags of one node, by its name (e.g. its own TLS certificate). */
  readonly argsOf?: (name: string) => readonly string[];
  /** TLS of the harness's own clients (status checks, client()): the nodes serve TLS. */
  readonly clientTls?: ClientTls;
  /** Bound on forming the cluster. */
  readonly readyTimeoutMs?: number;
}

/** A cluster of `serve` processes in a temp directory. Always call cleanup() (in `after`). */
export class ProcessCluster {
  readonly dir: string;
  readonly nodes: ProcessNode[] = [];
  private readonly clients: RingkvClient[] = [];
  /** TLS of the harness's clients (undefined: plaintext). */
  clientTls: ClientTls | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Plans nodes on free ports (client, raft and admin: the admin port's default, --port + 1000,
   * could be another test's port): node1 bootstraps, the others join node1. Nothing is started.
   */
  static async plan(opts: ClusterOptions = {}): Promise<ProcessCluster> {
    const n = opts.nodes ?? 3;
    const c = new ProcessCluster(mkdtempSync(join(tmpdir(), 'ringkv-test-')));
    c.clientTls = opts.clientTls;
    const ports = await freePorts(3 * n);
    for (let i = 0; i < n; i++) {
      const name = `node${i + 1}`;
      const port = ports[3 * i]!;
      const raftPort = ports[3 * i + 1]!;
      const adminPort = ports[3 * i + 2]!;
      const args = [
        ...localServeArgs(i, { port, raftPort, adminPort }, c.dir, ports[0]!),
        '--log_level',
        'info',
        ...(opts.extraArgs ?? []),
        ...(opts.argsOf?.(name) ?? []),
      ];
      c.nodes.push(new ProcessNode(name, port, raftPort, args, c.dir, adminPort));
    }
    return c;
  }

  /** plan() + start(): node1 first (until it answers), then the others, until fully formed. */
  static async start(opts: ClusterOptions = {}): Promise<ProcessCluster> {
    const c = await ProcessCluster.plan(opts);
    try {
      await c.startAll(opts.readyTimeoutMs ?? 60_000);
    } catch (e) {
      const msg = `${e instanceof Error ? e.message : String(e)}\n${c.tails()}`;
      await c.cleanup();
      throw new Error(msg);
    }
    return c;
  }

  async startAll(timeoutMs: number): Promise<void> {
    const [first, ...rest] = this.nodes;
    if (first === undefined) throw new Error('no nodes');
    first.start();
    await this.waitAnswers(first, timeoutMs);
    for (const n of rest) n.start();
    await this.waitFormed(timeoutMs);
  }

  node(name: string): ProcessNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  get endpoints(): string[] {
    return this.nodes.map((n) => n.endpoint);
  }

  /** A client over every node (closed by cleanup()). */
  client(opts: Partial<RingkvClientOptions> = {}): RingkvClient {
    const tls = this.clientTls === undefined ? {} : { tls: this.clientTls };
    const c = new RingkvClient({ endpoints: this.endpoints, ...tls, ...opts });
    this.clients.push(c);
    return c;
  }

  /** The Status of one node, or undefined if it does not answer within `timeoutMs`. */
  async statusOf(node: ProcessNode, timeoutMs = 1000): Promise<StatusResponse | undefined> {
    const tls = this.clientTls === undefined ? {} : { tls: this.clientTls };
    const c = new RingkvClient({ endpoints: [node.endpoint], routeToLeaders: false, ...tls });
    try {
      return await c.status({ endpoint: node.endpoint, timeoutMs });
    } catch {
      return undefined;
    } finally {
      void c.close({ timeoutMs: 0 });
    }
  }

  async waitAnswers(node: ProcessNode, timeoutMs = 30_000): Promise<void> {
    await waitUntil(
      `${node.name} to answer Status`,
      timeoutMs,
      async () => {
        if (!node.running) throw new GiveUp(`${node.name} exited: ${JSON.stringify(node.lastExit)}`);
        return (await this.statusOf(node)) === undefined ? undefined : true;
      },
      200,
    );
  }

  /**
   * Every running node answers, sees every node as a member, every group has all nodes as
   * voters and a leader that is running.
   */
  async waitFormed(timeoutMs = 30_000): Promise<void> {
    const names = new Set(this.nodes.map((n) => n.name));
    await waitUntil(
      `all ${this.nodes.length} nodes to be voters of every group`,
      timeoutMs,
      async () => {
        for (const n of this.nodes) if (!n.running) throw new GiveUp(`${n.name} is not running`);
        for (const n of this.nodes) {
          const s = await this.statusOf(n);
          if (s === undefined || s.members.length !== this.nodes.length || s.shards.length === 0)
            return undefined;
          const ok = s.shards.every(
            (g) => g.voters.length === names.size && g.voters.every((v) => names.has(v)) && g.leader !== '',
          );
          if (!ok) return undefined;
        }
        return true;
      },
      250,
    );
  }

  /** Data shards led per node, as the first answering running node (other than `except`) reports. */
  async leadersByNode(except?: ProcessNode): Promise<Map<string, number[]>> {
    for (const n of this.nodes) {
      if (!n.running || n === except) continue;
      const s = await this.statusOf(n);
      if (s === undefined) continue;
      const led = new Map<string, number[]>(this.nodes.map((x) => [x.name, []]));
      for (const g of s.shards) if (g.shardId !== 0 && g.leader !== '') led.get(g.leader)?.push(g.shardId);
      return led;
    }
    throw new Error('no running node answered Status');
  }

  tails(lines = 30): string {
    return this.nodes.map((n) => n.tail(lines)).join('\n');
  }

  /** Kills every child by pid, closes clients, removes the temp directory. Safe to call twice. */
  async cleanup(): Promise<void> {
    for (const c of this.clients) void c.close({ timeoutMs: 0 });
    this.clients.length = 0;
    await Promise.all(this.nodes.map((n) => n.forceKill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A gauge or counter without labels, summed over the running nodes' `/metrics` (admin port). */
export async function metricSum(c: ProcessCluster, name: string): Promise<number> {
  let sum = 0;
  for (const n of c.nodes.filter((x) => x.running)) {
    const body = await (await fetch(`${n.adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const m = new RegExp(`^${name} (\\d+(?:\\.\\d+)?)$`, 'm').exec(body);
    if (m === null) throw new Error(`${n.name}: no ${name} in /metrics`);
    sum += Number(m[1]);
  }
  return sum;
}

/**
 * A long-running `ringkv` command (bin/ringkv.js) as a child process: its output as it comes,
 * stopped by a signal with a bounded wait, killed by pid in a test's cleanup.
 */
export class CliChild {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  constructor(args: readonly string[]) {
    this.child = spawn(NODE_BIN, [join(ROOT, 'bin', 'ringkv.js'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (b: Buffer) => {
      this.stdout += b.toString('utf8');
    });
    this.child.stderr?.on('data', (b: Buffer) => {
      this.stderr += b.toString('utf8');
    });
    this.exited = new Promise((res) => this.child.once('exit', (code, signal) => res({ code, signal })));
  }

  /** Standard output's non-empty lines so far. */
  lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  /** Sends `signal` and waits (at most 10 s) for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<{ code: number | null; signal: string | null }> {
    if (this.child.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, signal);
    const r = await within(this.exited, 10_000);
    if (r === undefined) throw new Error(`ringkv did not exit within 10 s of ${signal}: ${this.stderr}`);
    return r;
  }

  kill(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null)
      process.kill(this.child.pid, 'SIGKILL');
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Standard output as bytes (for binary values). */
  readonly stdoutBytes: Buffer;
  /** Wall time from spawning the CLI to its exit, in ms. */
  readonly elapsedMs: number;
}

/** Most output kept from one CLI run. */
const CLI_OUTPUT_BYTES_MAX = 16 * 1024 * 1024;

/**
 * Runs the `ringkv` CLI (bin/ringkv.js, as `npx ringkv` does) and captures its output. Bounded.
 * `input` is written to its standard input, which is closed at once when there is none.
 */
export function runCli(
  args: readonly string[],
  opts: {
    readonly cwd?: string;
    readonly env?: Record<string, string>;
    readonly timeoutMs?: number;
    readonly input?: Uint8Array | string;
  } = {},
): Promise<CliRun> {
  return new Promise((res) => {
    const t0 = Date.now();
    const child = execFile(
      NODE_BIN,
      [join(ROOT, 'bin', 'ringkv.js'), ...args],
      {
        cwd: opts.cwd ?? ROOT,
        timeout: opts.timeoutMs ?? 30_000,
        env: { ...process.env, ...opts.env },
        encoding: 'buffer',
        maxBuffer: CLI_OUTPUT_BYTES_MAX,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        res({
          code,
          stdout: stdout.toString('utf8'),
          stderr: stderr.toString('utf8'),
          stdoutBytes: stdout,
          elapsedMs: Date.now() - t0,
        });
      },
    );
    child.stdin?.on('error', () => {}); // the CLI may exit without reading it
    child.stdin?.end(opts.input);
  });
}
