// `ringkv snapshot save FILE`: every data shard's state, each at a linearizable point of that shard,
// into one backup file (backup-file.ts). The shard table comes from one node's Status; then the
// shards are read one after another (one shard's snapshot held on a node at a time), each from its
// leader when known, else from another voter, in chunks that this process pulls one by one
// (ReadShardSnapshot) and streams to the file. A shard whose read fails part way is read again from
// the start on the next voter. A progress bar on stderr when it is a terminal (not with --output json).
import { access } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  InvalidArgumentError,
  type RingkvClient,
  RingkvError,
  type StatusResponse,
} from '../../client/index.ts';
import { toJson, withClient } from '../commands/client-common.ts';
import { createProgress, type Progress as Display } from '../progress.ts';
import type { Manifest, ManifestShard } from './backup-file.ts';
import { BackupWriter } from './backup-writer.ts';

type Opts = Record<string, unknown>;

/** Bytes asked for per call (the server's default; a 4 MiB message bound leaves room). */
const CHUNK_BYTES = 1024 * 1024;
/** Rounds over a shard's voters before the save gives up on it. */
const ROUNDS_MAX = 2;

/** Where to read each shard: its voters' client addresses, the leader first. */
interface ShardSource {
  readonly shard: number;
  readonly slotFirst: number;
  readonly slotLast: number;
  readonly addrs: readonly string[];
}

export function shardSources(st: StatusResponse): ShardSource[] {
  const addrOf = new Map(st.members.map((m) => [m.nodeId, m.clientAddr]));
  const leaders = new Map(st.shards.map((s) => [s.shardId, s.leader]));
  return [...st.placement]
    .sort((a, b) => a.shardId - b.shardId)
    .map((p) => {
      const leader = leaders.get(p.shardId) ?? '';
      const ids = [...p.voters].sort((a, b) => Number(b === leader) - Number(a === leader));
      const addrs = ids.map((id) => addrOf.get(id)).filter((a): a is string => a !== undefined && a !== '');
      return { shard: p.shardId, slotFirst: p.slotFirst, slotLast: p.slotLast, addrs };
    });
}

interface Progress {
  /** Undefined when quiet (stderr not a terminal, or --output json). */
  bar: Display | undefined;
  /** Shards saved. */
  done: number;
  bytes: number;
}

export function runSnapshotSave(file: string, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    if (await exists(file)) {
      process.stderr.write(`error: ${file} exists; give a new file name (a backup never overwrites one)\n`);
      return 1;
    }
    let writer: BackupWriter;
    try {
      writer = await BackupWriter.create(file);
    } catch (e) {
      process.stderr.write(`error: cannot write ${file}.part: ${(e as Error).message}\n`);
      return 1;
    }
    const json = opts.output === 'json';
    const progress: Progress = { bar: undefined, done: 0, bytes: 0 };
    try {
      const manifest = await saveAll(client, writer, process.stderr.isTTY === true && !json, progress);
      const fileBytes = await writer.finish(manifest);
      progress.bar?.stop();
      report(file, manifest, fileBytes, json);
      return 0;
    } catch (e) {
      progress.bar?.stop();
      await writer.abort();
      throw e;
    }
  });
}

/** Every shard into the writer, in order; returns the manifest. `show`: a bar on stderr. */
async function saveAll(
  client: RingkvClient,
  writer: BackupWriter,
  show: boolean,
  progress: Progress,
): Promise<Manifest> {
  const st = await client.status();
  const sources = shardSources(st);
  const shardCount = st.settings?.shardCount ?? sources.length;
  if (st.clusterId === '' || sources.length === 0 || sources.length !== shardCount) {
    throw new Error(
      `the node that answered does not know the cluster's shard table yet (${sources.length} of ${shardCount} shards); retry, or give another --endpoints`,
    );
  }
  if (show) progress.bar = createProgress('saving shards', sources.length);
  const shards: ManifestShard[] = [];
  for (const src of sources) {
    shards.push(await saveShard(client, writer, src, progress));
    progress.done++;
    progress.bar?.update(progress.done, `${(progress.bytes / 2 ** 20).toFixed(1)} MiB`);
  }
  return {
    format: 'ringkv-backup',
    version: 1,
    clusterId: st.clusterId,
    shardCount,
    slotCount: sources[sources.length - 1]!.slotLast + 1,
    hashTags: st.settings?.hashTags === true,
    createdAt: new Date().toISOString(),
    shards,
  };
}

/** One shard into the file, from the first of its voters that serves it whole. */
async function saveShard(
  client: RingkvClient,
  writer: BackupWriter,
  src: ShardSource,
  progress: Progress,
): Promise<ManifestShard> {
  if (src.addrs.length === 0)
    throw new Error(`shard ${src.shard}: the shard table names no voter with an address`);
  let last: unknown;
  for (let round = 0; round < ROUNDS_MAX; round++) {
    for (const addr of src.addrs) {
      const before = progress.bytes;
      try {
        return await readShardInto(client, writer, src, addr, progress);
      } catch (e) {
        // A bad request is ours to fix; anything else (no replica there, a session lost, a node down)
        // is worth the next voter, the shard read again from its start.
        if (!(e instanceof RingkvError) || e instanceof InvalidArgumentError) throw e;
        writer.rewindShard();
        progress.bytes = before;
        last = e;
      }
    }
  }
  throw last;
}

async function readShardInto(
  client: RingkvClient,
  writer: BackupWriter,
  src: ShardSource,
  endpoint: string,
  progress: Progress,
): Promise<ManifestShard> {
  const shard = src.shard;
  let res = await client.readShardSnapshot({ shard, endpoint, maxBytes: CHUNK_BYTES });
  const total = Number(res.totalBytes);
  const session = res.session;
  await writer.beginShard(shard, total);
  // Bounded: every chunk but the last is non-empty and the offset only grows, up to total.
  for (let offset = 0; ; ) {
    if (Number(res.offset) !== offset || (res.data.byteLength === 0 && offset < total))
      throw new Error(
        `shard ${shard} from ${endpoint}: chunk at ${res.offset} (${res.data.byteLength} bytes), expected ${offset}`,
      );
    await writer.append(res.data);
    offset += res.data.byteLength;
    progress.bytes += res.data.byteLength;
    progress.bar?.update(
      progress.done,
      `${(progress.bytes / 2 ** 20).toFixed(1)} MiB, shard ${shard} from ${endpoint}`,
    );
    if (offset >= total) break;
    res = await client.readShardSnapshot({
      shard,
      endpoint,
      session,
      offset: BigInt(offset),
      maxBytes: CHUNK_BYTES,
    });
  }
  const crc = await writer.endShard();
  if (crc !== res.crc32)
    throw new Error(
      `shard ${shard} from ${endpoint}: the bytes received have CRC-32 ${crc}, the node's ${res.crc32}`,
    );
  return {
    shard,
    slotFirst: src.slotFirst,
    slotLast: src.slotLast,
    appliedIndex: Number(res.appliedIndex),
    keys: Number(res.keys),
    bytes: total,
    crc32: crc,
  };
}

function report(file: string, m: Manifest, fileBytes: number, json: boolean): void {
  const keys = m.shards.reduce((n, s) => n + s.keys, 0);
  if (json) {
    const shards = m.shards.map(({ shard, appliedIndex, keys, bytes }) => ({
      shard,
      appliedIndex,
      keys,
      bytes,
    }));
    process.stdout.write(
      `${toJson({ file, clusterId: m.clusterId, shardCount: m.shardCount, keys, fileBytes, shards })}\n`,
    );
    return;
  }
  const indexes = m.shards.map((s) => `${s.shard}@${s.appliedIndex}`).join(' ');
  process.stdout.write(
    `saved ${file}: cluster ${m.clusterId}, ${m.shardCount} shards, ${keys} keys, ${fileBytes} bytes\n` +
      `shard@applied index: ${indexes}\n`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
