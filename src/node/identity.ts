// The node-identity file (`<raft_dir>/node.json`): who this node is and which cluster its data belongs
// to. Written atomically (temporary file, fsync, rename, fsync of the directory) so that a crash
// leaves either the old or the new file, never a torn one. A restart with the original command line
// reads it and resumes instead of bootstrapping (or joining) a second time.
import { join } from 'node:path';
import type { FileSystem } from '../storage/file-system.ts';
import { writeFully } from '../storage/fs-util.ts';
import { StartupError } from './errors.ts';

export interface NodeIdentity {
  readonly version: 1;
  readonly nodeId: string;
  /** Empty until known (a joiner learns it from the Join reply). */
  readonly clusterId: string;
  /** Number of data shards; 0 until known. */
  readonly shardCount: number;
  /**
   * 'bootstrapping' → 'bootstrapped' (first node), 'joining' → 'joined' (others); 'removed' once the
   * cluster removed it (its data is stale: it never serves again).
   */
  readonly state: 'bootstrapping' | 'bootstrapped' | 'joining' | 'joined' | 'removed';
}

export const IDENTITY_FILE = 'node.json';

export async function readIdentity(fs: FileSystem, raftDir: string): Promise<NodeIdentity | undefined> {
  const path = join(raftDir, IDENTITY_FILE);
  let text: string;
  try {
    text = (await fs.readFile(path)).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StartupError(
      `${path} is not valid JSON; it is written atomically, so the file was damaged by hand`,
    );
  }
  return checkIdentity(parsed, path);
}

function checkIdentity(v: unknown, path: string): NodeIdentity {
  const o = v as Partial<NodeIdentity> | null;
  const states = ['bootstrapping', 'bootstrapped', 'joining', 'joined', 'removed'];
  if (
    o === null ||
    typeof o !== 'object' ||
    o.version !== 1 ||
    typeof o.nodeId !== 'string' ||
    typeof o.clusterId !== 'string' ||
    typeof o.shardCount !== 'number' ||
    typeof o.state !== 'string' ||
    !states.includes(o.state)
  ) {
    throw new StartupError(`${path} does not hold a ringkv node identity: ${JSON.stringify(v)}`);
  }
  return o as NodeIdentity;
}

export async function writeIdentity(fs: FileSystem, raftDir: string, identity: NodeIdentity): Promise<void> {
  const path = join(raftDir, IDENTITY_FILE);
  const tmp = `${path}.tmp`;
  const fh = await fs.open(tmp, 'create');
  try {
    await writeFully(fh, Buffer.from(`${JSON.stringify(identity, null, 2)}\n`, 'utf8'), 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path);
  await fs.syncPath(raftDir);
}
