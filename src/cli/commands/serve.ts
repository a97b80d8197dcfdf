// `ringkv serve`: runs one ringkv node until SIGINT/SIGTERM. The flag names are the original design's
// (`--raft_port`, `--node_id`, …); kebab-case aliases (`--raft-port`) are accepted too. This file
// only declares the flags at load time; the node is imported when the command runs, so that
// `ringkv --help` stays fast.
//
// Exit status: 0 after a clean shutdown; 1 when the node cannot start or has to stop (corrupt
// write-ahead log, disk failure, a port in use); 2 for bad flags or flags that do not fit the data
// directory (neither or both of --bootstrap and --join_addr on an empty one).
import { type Command, Option } from 'commander';
import { DEFAULT_LEADER_PLACEMENT, isLeaderPlacement, LEADER_PLACEMENTS } from '../../node/metadata.ts';
import {
  CLIENT_API_THREADS,
  DEFAULT_CLIENT_API_THREAD,
  isClientApiThread,
} from '../../server/client-api-thread.ts';
import type { NodeProcessOptions } from '../../server/process.ts';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** Flags with their defaults: [underscore name, value placeholder, description, default]. */
const FLAGS: readonly (readonly [string, string, string, string | undefined])[] = [
  ['port', '<port>', 'client gRPC port (KVService, ClusterService)', '50051'],
  ['raft_port', '<port>', 'peer (Raft) port for node-to-node traffic', '12001'],
  ['node_id', '<id>', "this node's id, unique in the cluster (required)", undefined],
  ['raft_dir', '<dir>', 'data directory: write-ahead log, snapshots, node identity (required)', undefined],
  [
    'join_addr',
    '<host:port>',
    'client address of any member of the cluster to join (first start only)',
    undefined,
  ],
  [
    'join_timeout',
    '<seconds>',
    'with --join_addr: give up (exit 1) when the cluster has not admitted this node by then',
    '300',
  ],
  ['host', '<host>', 'address other nodes and clients use to reach this node', 'localhost'],
  ['listen', '<addr>', 'interface to bind both ports on (default: the one --host names)', undefined],
  ['shards', '<n>', 'number of data shards of a new cluster (used only with --bootstrap)', '8'],
  [
    'leader_placement',
    '<spread|pack>',
    "where a new cluster puts its shards' leaders (used only with --bootstrap; later: " +
      '`ringkv cluster leader-placement`): spread evenly over the members, or pack them all on one node',
    DEFAULT_LEADER_PLACEMENT,
  ],
  [
    'client_api_thread',
    '<worker|inline>',
    "where the client port's HTTP/2 work runs: a worker thread (uses a second core), or the node's " +
      'own thread',
    DEFAULT_CLIENT_API_THREAD,
  ],
  [
    'wal_segment_mib',
    '<n>',
    'size of each preallocated write-ahead log segment: the node needs one free to start, and about 3.5 ' +
      'in all to take writes (else the NOSPACE alarm); smaller on small disks',
    '64',
  ],
  ['max_key_bytes', '<n>', 'largest key accepted', '4096'],
  ['max_value_bytes', '<n>', 'largest value accepted', '1048576'],
  [
    'request_timeout_ms',
    '<ms>',
    "server-side deadline of a request (the client's own may be shorter)",
    '5000',
  ],
  ['log_level', '<level>', 'log level: fatal, error, warn, info, debug, trace, silent', 'info'],
];

export function registerServeCommand(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'Run a ringkv node. Start the first node with --bootstrap=true and the others with --join_addr; ' +
        'restart any node with its original command line: it resumes from --raft_dir.',
    );
  for (const [name, arg, description, def] of FLAGS) {
    const opt = new Option(`--${name} ${arg}`, description);
    cmd.addOption(def === undefined ? opt : opt.default(def));
    if (name.includes('_')) cmd.addOption(new Option(`--${name.replaceAll('_', '-')} ${arg}`).hideHelp());
  }
  cmd.addOption(
    new Option(
      '--unsafe_no_read_index [bool]',
      'UNSAFE, for testing the checkers only (ringkv chaos --planted-bug): serve linearizable reads ' +
        'locally without a ReadIndex round, so a deposed leader answers stale data',
    ).default('false'),
  );
  cmd.addOption(
    new Option(
      '--bootstrap [bool]',
      'start a new cluster with this node as its first member (first start only)',
    ).default('false'),
  );
  cmd.action(async (opts: Record<string, unknown>) => {
    const parsed = parseServeFlags(opts);
    if (typeof parsed === 'string') {
      process.stderr.write(`ringkv serve: ${parsed} (run ringkv serve --help for usage)\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    const { runNodeProcess } = await import('../../server/process.ts');
    const outcome = await runNodeProcess(parsed);
    // Exit now: open gRPC channels or timers must not keep a stopped node's process alive.
    process.exit(outcome === 'usage' ? EXIT_USAGE : outcome === 'failed' ? EXIT_FAILED : EXIT_OK);
  });
}

export type ServeFlags = NodeProcessOptions;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads a flag given as --name_with_underscores or as --name-with-dashes (commander camel-cases the latter). */
function flag(opts: Record<string, unknown>, name: string): string | undefined {
  const camel = name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const v = (camel !== name ? opts[camel] : undefined) ?? opts[name];
  return typeof v === 'string' ? v : undefined;
}

function integer(opts: Record<string, unknown>, name: string, min: number, max: number): number | string {
  const text = flag(opts, name) ?? '';
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    return `--${name} must be an integer from ${min} to ${max}, got '${text}'`;
  }
  return n;
}

function bool(v: unknown): boolean | undefined {
  if (v === true || v === 'true' || v === '1' || v === 'yes') return true;
  if (v === false || v === 'false' || v === '0' || v === 'no') return false;
  return undefined;
}

/** The flags as typed values, or a message naming what is wrong. */
export function parseServeFlags(opts: Record<string, unknown>): ServeFlags | string {
  const nums: Record<string, number> = {};
  const ranges: [string, number, number][] = [
    ['port', 1, 65535],
    ['raft_port', 1, 65535],
    ['shards', 1, 1024],
    ['max_key_bytes', 1, 65536],
    ['max_value_bytes', 1, 64 * 1024 * 1024],
    ['request_timeout_ms', 1, 3_600_000],
    ['join_timeout', 1, 86_400],
    ['wal_segment_mib', 1, 1024],
  ];
  for (const [name, min, max] of ranges) {
    const n = integer(opts, name, min, max);
    if (typeof n === 'string') return n;
    nums[name] = n;
  }
  const nodeId = flag(opts, 'node_id');
  if (nodeId === undefined || nodeId === '')
    return '--node_id is required (a name unique in the cluster, e.g. node1)';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nodeId))
    return `--node_id '${nodeId}' may only hold letters, digits, '.', '_' and '-' (at most 64)`;
  const raftDir = flag(opts, 'raft_dir');
  if (raftDir === undefined || raftDir === '')
    return "--raft_dir is required (the directory for this node's data)";
  const unsafeNoReadIndex = bool(opts['unsafe_no_read_index'] ?? opts['unsafeNoReadIndex']);
  if (unsafeNoReadIndex === undefined)
    return `--unsafe_no_read_index must be true or false, got '${String(opts['unsafe_no_read_index'])}'`;
  const bootstrap = bool(opts['bootstrap']);
  if (bootstrap === undefined) return `--bootstrap must be true or false, got '${String(opts['bootstrap'])}'`;
  const joinAddr = flag(opts, 'join_addr');
  if (joinAddr !== undefined && !/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(joinAddr)) {
    return `--join_addr must be host:port, got '${joinAddr}'`;
  }
  const host = flag(opts, 'host') ?? 'localhost';
  if (host === '') return '--host must not be empty';
  const leaderPlacement = flag(opts, 'leader_placement') ?? DEFAULT_LEADER_PLACEMENT;
  if (!isLeaderPlacement(leaderPlacement))
    return `--leader_placement must be ${LEADER_PLACEMENTS.join(' or ')}, got '${leaderPlacement}'`;
  const clientApiThread = flag(opts, 'client_api_thread') ?? DEFAULT_CLIENT_API_THREAD;
  if (!isClientApiThread(clientApiThread))
    return `--client_api_thread must be ${CLIENT_API_THREADS.join(' or ')}, got '${clientApiThread}'`;
  const logLevel = flag(opts, 'log_level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel))
    return `--log_level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`;
  return {
    port: nums['port']!,
    raftPort: nums['raft_port']!,
    nodeId,
    raftDir,
    bootstrap,
    joinAddr,
    joinTimeoutMs: nums['join_timeout']! * 1000,
    walSegmentBytes: nums['wal_segment_mib']! * 1024 * 1024,
    unsafeNoReadIndex,
    host,
    listen: flag(opts, 'listen') ?? host,
    shards: nums['shards']!,
    leaderPlacement,
    clientApiThread,
    maxKeyBytes: nums['max_key_bytes']!,
    maxValueBytes: nums['max_value_bytes']!,
    requestTimeoutMs: nums['request_timeout_ms']!,
    logLevel,
  };
}
