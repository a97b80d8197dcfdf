// `ringkv start-local` (what `npm start` runs): a local 3-node cluster as three separate
// `ringkv serve` processes on the original ports (admin ports, with the dashboard at /: serve's
// default, the client port + 1000, so 51051–51053), with data under ./data so that a restart
// resumes. Each node's output goes to ./data/nodeN.log; errors are echoed here with the node's
// name. Ctrl+C (or SIGTERM) stops the three with SIGTERM, and SIGKILL after a bound.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { RingkvClient } from '../../client/index.ts';

const NODE_COUNT = 3;
/** After SIGTERM, how long a node gets to exit before SIGKILL. */
const STOP_GRACE_MS = 10_000;
const POLL_INTERVAL_MS = 300;
/** `serve`'s default admin port is the client port + this. */
const ADMIN_PORT_OFFSET = 1000;

interface LocalNode {
  readonly name: string;
  readonly port: number;
  readonly raftPort: number;
  readonly adminPort: number;
  readonly args: readonly string[];
  readonly logPath: string;
  child?: ChildProcess;
  log?: WriteStream;
  exited?: Promise<number | null>;
}

interface StartOptions {
  readonly dataDir: string;
  readonly basePort: number;
  readonly baseRaftPort: number;
  readonly readyTimeoutMs: number;
}

/** Source files are .ts in the repository and .js in the installed package (dist/). */
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const mainTs = join(import.meta.dirname, '..', `main${ext}`);

export async function runStartLocal(opts: Record<string, unknown>): Promise<number> {
  const o: StartOptions = {
    dataDir: resolve(String(opts.dataDir ?? './data')),
    basePort: Number(opts.basePort ?? 50051),
    baseRaftPort: Number(opts.baseRaftPort ?? 12001),
    readyTimeoutMs: Number(opts.readyTimeoutMs ?? 60_000),
  };
  if (!existsSync(join(import.meta.dirname, `serve${ext}`))) {
    process.stderr.write(
      'error: this build has no node yet (`ringkv serve` is missing), so there is nothing to start.\n',
    );
    return 1;
  }
  const nodes = planNodes(o);
  const busy = await busyPorts(nodes.flatMap((n) => [n.port, n.raftPort, n.adminPort]));
  if (busy.length > 0) {
    process.stderr.write(
      `error: port(s) ${busy.join(', ')} already in use — is a cluster already running? ` +
        'stop it first (Ctrl+C in its terminal), or pick other ports with --base-port/--base-raft-port.\n',
    );
    return 1;
  }
  mkdirSync(o.dataDir, { recursive: true });
  const stop = stopper(nodes);
  process.once('SIGINT', stop.onSignal);
  process.once('SIGTERM', stop.onSignal);
  try {
    const ok = await startAll(nodes, o, stop.onExit);
    if (!ok) {
      await stop.stopAll();
      return 1;
    }
    printWelcome(nodes, o);
    return await stop.finished;
  } finally {
    process.removeListener('SIGINT', stop.onSignal);
    process.removeListener('SIGTERM', stop.onSignal);
  }
}

function planNodes(o: StartOptions): LocalNode[] {
  return Array.from({ length: NODE_COUNT }, (_, i) => {
    const name = `node${i + 1}`;
    const ports = {
      port: o.basePort + i,
      raftPort: o.baseRaftPort + i,
      adminPort: o.basePort + i + ADMIN_PORT_OFFSET,
    };
    const args = localServeArgs(i, ports, o.dataDir, o.basePort);
    return { name, ...ports, args, logPath: join(o.dataDir, `${name}.log`) };
  });
}

/**
 * The `serve` command line of node `i` (from 0, named node{i+1}) of a cluster on this machine, its
 * data under `dataDir`: the first node bootstraps, the others join it at its client port `firstPort`.
 */
export function localServeArgs(
  i: number,
  ports: { readonly port: number; readonly raftPort: number; readonly adminPort: number },
  dataDir: string,
  firstPort: number,
): string[] {
  const name = `node${i + 1}`;
  return [
    '--port',
    String(ports.port),
    '--raft_port',
    String(ports.raftPort),
    '--admin_port',
    String(ports.adminPort),
    '--node_id',
    name,
    '--raft_dir',
    join(dataDir, name),
    i === 0 ? '--bootstrap=true' : `--join_addr=localhost:${firstPort}`,
  ];
}

/** Starts node1, waits until it answers, then the others; then waits for 3 voters everywhere. */
async function startAll(
  nodes: LocalNode[],
  o: StartOptions,
  onExit: (n: LocalNode, code: number | null) => void,
): Promise<boolean> {
  const deadlineMs = Date.now() + o.readyTimeoutMs;
  const [first, ...rest] = nodes;
  if (first === undefined) throw new Error('start-local: no nodes planned');
  spawnNode(first, onExit);
  process.stdout.write(`starting ${first.name} …\n`);
  if (!(await waitFor(nodes, deadlineMs, (c) => answers(c, `localhost:${first.port}`))))
    return failStart(nodes, o);
  for (const n of rest) spawnNode(n, onExit);
  process.stdout.write(
    `starting ${rest.map((n) => n.name).join(', ')} (joining via localhost:${first.port}) …\n`,
  );
  const endpoints = nodes.map((n) => `localhost:${n.port}`);
  if (!(await waitFor(nodes, deadlineMs, (c) => fullyFormed(c, endpoints)))) return failStart(nodes, o);
  return true;
}

function spawnNode(n: LocalNode, onExit: (n: LocalNode, code: number | null) => void): void {
  const log = createWriteStream(n.logPath, { flags: 'a' });
  const child = spawn(process.execPath, [mainTs, 'serve', ...n.args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    for (const line of chunk.toString('utf8').split('\n'))
      if (line.trim() !== '') process.stderr.write(`[${n.name}] ${line}\n`);
  });
  child.stdout?.on('data', (chunk: Buffer) => echoErrors(n.name, chunk));
  n.child = child;
  n.log = log;
  n.exited = new Promise((resolveExit) =>
    child.once('exit', (code) => {
      resolveExit(code);
      onExit(n, code);
    }),
  );
}

/** Pino lines at level error (50) or fatal (60) are worth showing in the terminal. */
function echoErrors(name: string, chunk: Buffer): void {
  for (const line of chunk.toString('utf8').split('\n')) {
    const m = /"level":(\d+)/.exec(line);
    if (m !== null && Number(m[1]) >= 50) {
      const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line;
      process.stderr.write(`[${name}] ${msg}\n`);
    }
  }
}

async function waitFor(
  nodes: readonly LocalNode[],
  deadlineMs: number,
  check: (client: RingkvClient) => Promise<boolean>,
): Promise<boolean> {
  const client = new RingkvClient({
    endpoints: nodes.map((n) => `localhost:${n.port}`),
    defaultTimeoutMs: 1000,
  });
  try {
    while (Date.now() < deadlineMs) {
      if (nodes.some((n) => n.child !== undefined && n.child.exitCode !== null)) return false;
      if (await check(client).catch(() => false)) return true;
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    }
    return false;
  } finally {
    void client.close({ timeoutMs: 0 });
  }
}

async function answers(client: RingkvClient, endpoint: string): Promise<boolean> {
  await client.status({ endpoint, timeoutMs: 1000 });
  return true;
}

/** Every node answers, with all three members voters in every group and every group led. */
async function fullyFormed(client: RingkvClient, endpoints: readonly string[]): Promise<boolean> {
  for (const endpoint of endpoints) {
    const s = await client.status({ endpoint, timeoutMs: 1000 });
    if (s.members.length !== NODE_COUNT || s.shards.length === 0) return false;
    if (!s.shards.every((g) => g.voters.length === NODE_COUNT && g.leader !== '')) return false;
  }
  return true;
}

function failStart(nodes: readonly LocalNode[], o: StartOptions): false {
  const dead = nodes.filter((n) => n.child?.exitCode !== null && n.child?.exitCode !== undefined);
  const why =
    dead.length > 0
      ? `${dead.map((n) => `${n.name} exited with code ${n.child?.exitCode}`).join(', ')}`
      : `the cluster did not form within ${o.readyTimeoutMs} ms`;
  process.stderr.write(`error: ${why}; see the logs in ${o.dataDir}/node1.log … node${NODE_COUNT}.log\n`);
  return false;
}

function printWelcome(nodes: readonly LocalNode[], o: StartOptions): void {
  // The CLI's default endpoint is localhost:50051; on other ports the commands must say where.
  const at = o.basePort === 50051 ? '' : ` --endpoints localhost:${o.basePort}`;
  const last = nodes[nodes.length - 1]?.port ?? o.basePort;
  const lines = [
    '',
    `ringkv: local cluster of ${nodes.length} nodes is up.`,
    ...nodes.map(
      (n) =>
        `  ${n.name}  client localhost:${n.port}  peer localhost:${n.raftPort}  admin http://localhost:${n.adminPort}  pid ${n.child?.pid}  log ${n.logPath}`,
    ),
    `  dashboard: http://localhost:${nodes[0]?.adminPort}/   (every node's admin port serves it)`,
    `  metrics: curl http://localhost:${nodes[0]?.adminPort}/metrics   health: /livez, /readyz?verbose`,
    `  data in ${o.dataDir} (stop and start again to resume with the same data)`,
    '',
    'Try, in another terminal:',
    `  npx ringkv put hello world${at}`,
    `  npx ringkv get hello${at}`,
    `  npx ringkv cluster status${at}`,
    `  npx ringkv get hello --endpoints localhost:${last}`,
    '',
    'Press Ctrl+C to stop all nodes.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

/**
 * Stops every node once: SIGTERM, then SIGKILL after STOP_GRACE_MS. `finished` resolves with the
 * launcher's exit code: 0 after a signal, 1 when every node died on its own.
 */
function stopper(nodes: readonly LocalNode[]) {
  let resolveFinished: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => {
    resolveFinished = r;
  });
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopping ??= Promise.all(nodes.map(stopNode)).then(() => {});
    return stopping;
  };
  const onSignal = (): void => {
    process.stdout.write('\nstopping all nodes …\n');
    stopAll().then(
      () => {
        process.stdout.write('all nodes stopped.\n');
        resolveFinished(0);
      },
      () => resolveFinished(1),
    );
  };
  const onExit = (n: LocalNode, code: number | null): void => {
    if (stopping !== undefined) return;
    process.stderr.write(`[${n.name}] exited unexpectedly (code ${code}); see ${n.logPath}\n`);
    if (
      nodes.every((x) => x.child === undefined || x.child.exitCode !== null || x.child.signalCode !== null)
    ) {
      process.stderr.write('every node has exited; stopping.\n');
      stopAll().then(
        () => resolveFinished(1),
        () => resolveFinished(1),
      );
    }
  };
  return { finished, stopAll, onSignal, onExit };
}

async function stopNode(n: LocalNode): Promise<void> {
  const child = n.child;
  if (child === undefined || n.exited === undefined) return;
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      process.stderr.write(`[${n.name}] did not stop within ${STOP_GRACE_MS} ms; killing it\n`);
      child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await n.exited;
    clearTimeout(timer);
  }
  await new Promise<void>((r) => n.log?.end(r) ?? r());
}

/** Ports on which something already listens (on any interface localhost names). */
async function busyPorts(ports: readonly number[]): Promise<number[]> {
  const busy: number[] = [];
  for (const port of ports) if (!(await canListen(port))) busy.push(port);
  return busy;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createServer();
    s.once('error', () => r(false));
    s.listen(port, 'localhost', () => s.close(() => r(true)));
  });
}
