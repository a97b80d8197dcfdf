// `ringkv snapshot restore FILE --raft_dir DIR --node_id ID …`: the data directory of the first node
// of a new cluster holding the backup's data, written and then left for `ringkv serve` (as
// `etcdutl snapshot restore` does). The whole file is checked first (every checksum, the manifest,
// the end marker); the directory is written under `DIR.restoring` and renamed to DIR only when
// complete and durable, so a damaged backup or a failure part way never leaves a half-restored DIR.
// DIR must not exist or be empty.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../../node/errors.ts';
import { isLeaderPlacement, type LeaderPlacement } from '../../node/metadata.ts';
import { writeRestoredDataDir } from '../../node/restore.ts';
import { parseDurationMs } from '../duration.ts';
import { BackupFileError } from './backup-file.ts';
import { readShard, verifyBackup } from './backup-reader.ts';
import { syncDir } from './backup-writer.ts';

type Opts = Record<string, unknown>;

interface RestoreFlags {
  /** As given (for messages). */
  readonly raftDirGiven: string;
  /** Absolute. */
  readonly raftDir: string;
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly raftPort: number;
  readonly zone: string;
  readonly replicationFactor: number;
  readonly leaderPlacement: LeaderPlacement;
  readonly deadNodeTimeoutMs: number;
  readonly walSegmentMib: number;
}

/** Exit status: 0 restored, 1 the backup or the disk failed, 2 the command line does not fit. */
export async function runSnapshotRestore(file: string, opts: Opts): Promise<number> {
  let flags: RestoreFlags;
  try {
    flags = restoreFlags(opts);
    await checkEmpty(flags.raftDir);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    return 2;
  }
  try {
    const out = await restore(file, flags);
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else {
      process.stdout.write(
        `restored ${file} into ${flags.raftDirGiven}: new cluster ${out.clusterId} (backup of cluster ${out.fromClusterId}), ` +
          `${out.shardCount} shards, ${out.keys} keys\n` +
          `start the node with: ringkv serve --node_id ${flags.nodeId} --raft_dir ${flags.raftDirGiven} --host ${flags.host} --port ${flags.port} --raft_port ${flags.raftPort}\n`,
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof BackupFileError)
      process.stderr.write(
        `error: cannot restore ${file}: the backup is damaged: ${e.message}; nothing was written\n`,
      );
    else if (e instanceof UsageError)
      process.stderr.write(`error: cannot restore ${file}: ${e.message}; nothing was written\n`);
    else
      process.stderr.write(`error: cannot restore ${file}: ${(e as Error).message}; nothing was written\n`);
    return 1;
  }
}

function restoreFlags(o: Opts): RestoreFlags {
  const str = (k: string): string | undefined =>
    typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined;
  const int = (k: string, flag: string, min: number, max: number): number => {
    const n = Number(o[k]);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${flag} must be an integer in [${min}, ${max}], got '${o[k]}'`);
    return n;
  };
  const raftDir = str('raft_dir');
  const nodeId = str('node_id');
  if (raftDir === undefined || nodeId === undefined) throw new UsageError('give --raft_dir and --node_id');
  const placement = str('leader_placement') ?? 'spread';
  if (!isLeaderPlacement(placement))
    throw new UsageError(`--leader_placement must be spread or pack, got '${placement}'`);
  const deadNodeTimeoutMs = parseDurationMs(str('dead_node_timeout') ?? '5m');
  if (deadNodeTimeoutMs === undefined)
    throw new UsageError(`--dead_node_timeout: not a duration: '${o.dead_node_timeout}'`);
  return {
    raftDirGiven: raftDir,
    raftDir: resolve(raftDir),
    nodeId,
    host: str('host') ?? 'localhost',
    port: int('port', '--port', 1, 65535),
    raftPort: int('raft_port', '--raft_port', 1, 65535),
    zone: str('zone') ?? '',
    replicationFactor: int('replication_factor', '--replication_factor', 1, 7),
    leaderPlacement: placement,
    deadNodeTimeoutMs,
    walSegmentMib: int('wal_segment_mib', '--wal_segment_mib', 1, 1024),
  };
}

/** DIR must not exist, or be an empty directory: a restore never writes over a node's data. */
async function checkEmpty(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UsageError(`--raft_dir ${dir}: ${(e as Error).message}`);
  }
  if (names.length > 0) {
    throw new UsageError(
      `--raft_dir ${dir} is not empty (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}): a restore starts a new node's data directory; give a new or empty one`,
    );
  }
}

async function restore(file: string, f: RestoreFlags) {
  const backup = await verifyBackup(file);
  const m = backup.manifest;
  const staging = `${f.raftDir}.restoring`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const clusterId = randomBytes(8).toString('hex');
  try {
    const keys = await writeRestoredDataDir({
      dir: staging,
      walSegmentBytes: f.walSegmentMib * 1024 * 1024,
      clusterId,
      shardCount: m.shardCount,
      // The backup's keys sit in the shards its cluster's rule placed them in.
      hashTags: m.hashTags === true,
      leaderPlacement: f.leaderPlacement,
      replicationFactor: f.replicationFactor,
      deadNodeTimeoutMs: f.deadNodeTimeoutMs,
      self: {
        nodeId: f.nodeId,
        clientAddr: `${f.host}:${f.port}`,
        raftAddr: `${f.host}:${f.raftPort}`,
        ...(f.zone === '' ? {} : { zone: f.zone }),
      },
      slotCount: m.slotCount,
      slots: m.shards.map((s) => ({ first: s.slotFirst, last: s.slotLast })),
      shard: async (s) => ({
        appliedIndex: m.shards[s - 1]!.appliedIndex,
        data: await readShard(file, backup.sections[s - 1]!),
      }),
    });
    await checkEmpty(f.raftDir);
    await rmdir(f.raftDir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rename(staging, f.raftDir);
    await syncDir(dirname(f.raftDir));
    return {
      raftDir: f.raftDir,
      clusterId,
      fromClusterId: m.clusterId,
      shardCount: m.shardCount,
      keys: keys.reduce((a, b) => a + b, 0),
      shards: m.shards.map((s, i) => ({ shard: s.shard, appliedIndex: s.appliedIndex, keys: keys[i] })),
    };
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}
