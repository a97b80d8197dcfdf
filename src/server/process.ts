// A node as an operating-system process (what `ringkv serve` runs): pino logs on stdout, the gRPC
// peer transport on the raft port, the client server, signal handling and exit outcomes.
// A failure that stops the node prints ONE clear line on stderr (and a fatal log line on stdout).
import pino, { type Logger } from 'pino';
import { StartupError, UsageError } from '../node/errors.ts';
import type { LeaderPlacement } from '../node/metadata.ts';
import type { NodeId } from '../raft/types.ts';
import { GrpcTransport } from '../transport/index.ts';
import type { ClientApiThread } from './client-api-thread.ts';
import { type AdminPortOptions, type RunningNode, startNode } from './run.ts';
import { type LoadedTls, loadTlsFiles, type TlsFileOptions } from './tls-files.ts';

export interface NodeProcessOptions {
  readonly port: number;
  readonly raftPort: number;
  readonly nodeId: string;
  readonly raftDir: string;
  readonly bootstrap: boolean;
  readonly joinAddr: string | undefined;
  /** With joinAddr: how long the first start waits to be admitted before it gives up. */
  readonly joinTimeoutMs: number;
  /** Size of each preallocated WAL segment. */
  readonly walSegmentBytes: number;
  /** Applied entries of a shard between two of its snapshots (NodeOptions.snapshotEveryEntries). */
  readonly snapshotEveryEntries: number;
  /** Applied entries of a shard whose bytes stay in memory (NodeOptions.entriesInMemory). */
  readonly entriesInMemory: number;
  /** UNSAFE, tests only: linearizable reads without ReadIndex (see NodeOptions). */
  readonly unsafeNoReadIndex: boolean;
  readonly host: string;
  readonly listen: string;
  readonly shards: number;
  /** R of a new cluster (with bootstrap). */
  readonly replicationFactor: number;
  /** The dead-node timeout of a new cluster (with bootstrap). */
  readonly deadNodeTimeoutMs: number;
  /** This node's failure domain ('' for none). */
  readonly zone: string;
  readonly leaderPlacement: LeaderPlacement;
  readonly clientApiThread: ClientApiThread;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly requestTimeoutMs: number;
  readonly logLevel: string;
  /** TLS files of the client and raft ports (none given: both plaintext). */
  readonly tls: TlsFileOptions;
  /** The admin HTTP port (metrics, /livez, /readyz); 0: none. */
  readonly adminPort: number;
  /** The interface to bind the admin port on. */
  readonly adminListen: string;
  /** The pages the admin port serves beside its endpoints (the dashboard, built by the CLI). */
  readonly adminPages?: AdminPortOptions['pages'];
}

export type ProcessOutcome = 'ok' | 'failed' | 'usage';

/** Runs the node until SIGINT/SIGTERM (→ 'ok') or a fatal failure (→ 'failed'); 'usage' for flags that do not fit the data directory. */
export async function runNodeProcess(f: NodeProcessOptions): Promise<ProcessOutcome> {
  const logger = pino({ level: f.logLevel, base: { node: f.nodeId } });
  let tls: LoadedTls;
  try {
    tls = loadTlsFiles(f.tls);
  } catch (e) {
    reportFailure(logger, e);
    return 'usage';
  }
  const transport = new GrpcTransport({
    localId: f.nodeId as NodeId,
    listenHost: f.listen,
    listenPort: f.raftPort,
    logger,
    ...(tls.peerTls === undefined ? {} : { tls: tls.peerTls }),
  });
  let settle: (o: ProcessOutcome) => void = () => {};
  const outcome = new Promise<ProcessOutcome>((resolve) => {
    settle = resolve;
  });
  let running: RunningNode | undefined;
  const fail = (err: unknown): void => {
    reportFailure(logger, err);
    void (running?.stop() ?? Promise.resolve()).catch(() => {}).finally(() => settle('failed'));
  };
  try {
    running = await startNode(
      {
        nodeId: f.nodeId,
        raftDir: f.raftDir,
        raftAddr: `${f.host}:${f.raftPort}`,
        bootstrap: f.bootstrap,
        joinAddr: f.joinAddr,
        joinTimeoutMs: f.joinTimeoutMs,
        walSegmentBytes: f.walSegmentBytes,
        snapshotEveryEntries: f.snapshotEveryEntries,
        entriesInMemory: f.entriesInMemory,
        unsafeNoReadIndex: f.unsafeNoReadIndex,
        shardCount: f.shards,
        replicationFactor: f.replicationFactor,
        deadNodeTimeoutMs: f.deadNodeTimeoutMs,
        zone: f.zone,
        leaderPlacement: f.leaderPlacement,
        clientApiThread: f.clientApiThread,
        maxKeyBytes: f.maxKeyBytes,
        maxValueBytes: f.maxValueBytes,
        requestTimeoutMs: f.requestTimeoutMs,
        listenHost: f.listen,
        port: f.port,
        advertiseHost: f.host,
        logger,
        transport,
        clientTls: tls.clientTls,
        admin:
          f.adminPort === 0
            ? undefined
            : { listenHost: f.adminListen, port: f.adminPort, pages: f.adminPages },
      },
      fail,
    );
  } catch (e) {
    reportFailure(logger, e);
    return e instanceof UsageError ? 'usage' : 'failed';
  }
  const adminScheme = tls.clientTls === undefined ? 'http' : 'https';
  logger.info(
    {
      port: running.port,
      raftPort: f.raftPort,
      clientAddr: running.clientAddr,
      clientApiThread: f.clientApiThread,
      clientTls:
        tls.clientTls === undefined ? 'off' : tls.clientTls.requireClientCert ? 'client-cert-auth' : 'on',
      peerTls: tls.peerTls === undefined ? 'off' : 'mutual',
      adminAddr:
        running.adminPort === undefined ? 'off' : `${adminScheme}://${f.adminListen}:${running.adminPort}`,
    },
    'serving',
  );
  if (running.adminPort !== undefined && f.adminPages !== undefined) {
    // The advertised host: the admin port listens on --admin_listen, which may be 0.0.0.0.
    const dashboard = `${adminScheme}://${hostForUrl(f.host)}:${running.adminPort}/`;
    logger.info({ dashboard }, `dashboard: ${dashboard}`);
  }
  const node = running;
  const onSignal = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    void node.stop().then(
      () => settle('ok'),
      (e: unknown) => {
        reportFailure(logger, e);
        settle('failed');
      },
    );
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  return outcome;
}

/** A host as it goes in a URL: an IPv6 address in brackets. */
function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function reportFailure(logger: Logger, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const expected =
    err instanceof UsageError ||
    err instanceof StartupError ||
    (err as { code?: unknown }).code !== undefined;
  logger.fatal({ err }, message);
  process.stderr.write(`ringkv serve: ${message}${expected ? '' : ` (${(err as Error).stack ?? ''})`}\n`);
}
