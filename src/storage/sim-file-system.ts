// An in-memory disk that keeps the contract of file-system.ts to the letter, and no more: what a
// crash may lose it does lose (as a seeded generator decides), so a missing fsync shows up as lost or
// torn data after `crash()`. Used by the storage tests and by the simulator, which runs the real node
// on it.
//
// Model. Every file has two contents: `data`, what reads see (the page cache), and `durable`, what a
// crash keeps; the writes between them are kept in order in `unsynced`. Every directory likewise has
// `entries` and `durable` entries, and the changes between them in order. A sync moves a file's (or a
// directory's) unsynced changes into its durable state; `crash(rng)` keeps, per file and per directory,
// the durable state plus a prefix of the unsynced changes (the last kept write cut at a random byte),
// or, with tearing 'sectors', any subset of the unsynced writes' 512-byte sectors. Space is counted
// on what reads see; a write beyond the capacity is short, then fails with ENOSPC.
//
// One disk, many lives: `mount()` hands the FileSystem of one process life; `crash()` ends that life,
// and every later call through its FileSystem or its open files fails (EIO), so that code of a crashed
// node still running on the event loop cannot touch the disk its successor uses.
//
// Deterministic: no clock, no Math.random; all randomness comes from the Rng passed to crash(), and
// every promise settles without waiting (callers see the same interleavings run after run).
import { posix } from 'node:path';
import type { Rng } from '../raft/types.ts';
import {
  createsFile,
  type FileHandle,
  type FileSystem,
  FileSystemError,
  type FileSystemErrorCode,
  type OpenMode,
  writesDurably,
} from './file-system.ts';

export type Tearing =
  /** Unsynced writes survive as a prefix, in order, the last one cut at any byte (file-system.ts). */
  | 'prefix'
  /** Any subset of the unsynced writes' 512-byte sectors survives (what a disk may really do). */
  | 'sectors';

export interface SimFileSystemOptions {
  /** Bytes of file data the disk holds; a write beyond it is short, then fails with ENOSPC. */
  readonly capacityBytes: number;
  /** How unsynced writes survive a crash. Default 'prefix'. */
  readonly tearing?: Tearing;
}

/** A one-shot failure of the next write or sync whose path matches. */
export interface InjectedFault {
  readonly op: 'write' | 'sync';
  readonly path: string | RegExp;
  readonly code: 'EIO' | 'ENOSPC';
}

export interface SimFileSystemStats {
  writes: number;
  /** datasync/sync of files, and syncPath of files. */
  fileSyncs: number;
  /** syncPath of directories (mkdir's own included). */
  dirSyncs: number;
  crashes: number;
}

const CAPACITY_BYTES_MAX = 1 << 30;
const INODES_MAX = 65_536;
/** Per file or directory, between two syncs: a caller that never syncs is a bug the bound reports. */
const UNSYNCED_CHANGES_MAX = 65_536;
const FAULTS_MAX = 64;
const NAME_BYTES_MAX = 255;
const SECTOR_BYTES = 512;

type FileChange =
  | { readonly kind: 'write'; readonly positionBytes: number; readonly data: Buffer }
  | { readonly kind: 'truncate' };

type DirChange =
  | { readonly kind: 'link'; readonly name: string; readonly inode: Inode }
  | { readonly kind: 'unlink'; readonly name: string }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string; readonly inode: Inode };

interface FileInode {
  readonly kind: 'file';
  readonly id: number;
  /** What reads see. */
  data: Bytes;
  /** What a crash keeps. Invariant: durable + unsynced applied in order = data, unless a sync failed. */
  durable: Bytes;
  unsynced: FileChange[];
  /** Names in directories (what reads see). The inode is freed when links and openHandles are 0. */
  links: number;
  /** The name it was last given (created or renamed to): injected faults match it. */
  path: string;
  openHandles: number;
}

interface DirInode {
  readonly kind: 'dir';
  readonly id: number;
  entries: Map<string, Inode>;
  /** Invariant: durable with unsynced applied in order = entries. */
  durable: Map<string, Inode>;
  unsynced: DirChange[];
}

type Inode = FileInode | DirInode;

/** A growable byte array: `size` bytes are the content, the rest of `buf` is spare room. */
class Bytes {
  private buf: Buffer;
  /** Invariant: size <= buf.length. */
  size: number;

  constructor(content?: Buffer) {
    this.buf = content === undefined ? Buffer.alloc(0) : Buffer.from(content);
    this.size = this.buf.length;
  }

  /** Writes src at position, zero-filling any gap after the current end. */
  write(positionBytes: number, src: Uint8Array): void {
    const end = positionBytes + src.length;
    if (end > this.buf.length) {
      const grown = Buffer.alloc(Math.max(end, 2 * this.buf.length));
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    }
    if (positionBytes > this.size) this.buf.fill(0, this.size, positionBytes);
    this.buf.set(src, positionBytes);
    this.size = Math.max(this.size, end);
  }

  truncate(): void {
    this.size = 0;
  }

  copy(): Bytes {
    return new Bytes(this.view());
  }

  view(): Buffer {
    return this.buf.subarray(0, this.size);
  }
}

function fail(code: FileSystemErrorCode, syscall: string, path: string, detail?: string): never {
  throw new FileSystemError(code, syscall, path, detail);
}

function apply(bytes: Bytes, change: FileChange): void {
  if (change.kind === 'truncate') bytes.truncate();
  else bytes.write(change.positionBytes, change.data);
}

function applyDir(entries: Map<string, Inode>, change: DirChange): void {
  if (change.kind === 'link') entries.set(change.name, change.inode);
  else if (change.kind === 'unlink') entries.delete(change.name);
  else {
    entries.delete(change.from);
    entries.set(change.to, change.inode);
  }
}

export class SimFileSystem {
  readonly capacityBytes: number;
  private capacity: number;
  private readonly tearing: Tearing;
  private readonly root: DirInode;
  /** Bytes of file data as reads see it. Invariant: usedBytes <= capacity unless setCapacity shrank it. */
  private usedBytes = 0;
  private inodes = 1;
  private nextInodeId = 1;
  /** Incremented by crash(): FileSystems and handles of an older life fail. */
  private life = 0;
  private faults: InjectedFault[] = [];
  private readonly counters: SimFileSystemStats = { writes: 0, fileSyncs: 0, dirSyncs: 0, crashes: 0 };

  constructor(options: SimFileSystemOptions) {
    const c = options.capacityBytes;
    if (!Number.isSafeInteger(c) || c < 0 || c > CAPACITY_BYTES_MAX) {
      throw new Error(`sim fs: capacity ${c} bytes outside [0, ${CAPACITY_BYTES_MAX}]`);
    }
    this.capacityBytes = c;
    this.capacity = c;
    this.tearing = options.tearing ?? 'prefix';
    this.root = { kind: 'dir', id: 0, entries: new Map(), durable: new Map(), unsynced: [] };
  }

  /** The FileSystem of one process life on this disk (until the next crash). */
  mount(): FileSystem {
    return new SimMount(this, this.life);
  }

  /** The disk fills up or frees up (the operator deleted a file): writes need room under this. */
  setCapacity(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > CAPACITY_BYTES_MAX) {
      throw new Error(`sim fs: capacity ${bytes} bytes outside [0, ${CAPACITY_BYTES_MAX}]`);
    }
    this.capacity = bytes;
  }

  /** The disk fills up with other files: `freeBytes` stay free (setCapacity gives the room back). */
  fillUp(freeBytes: number): void {
    this.setCapacity(Math.min(this.capacityBytes, this.usedBytes + freeBytes));
  }

  /** The next write (or sync) of a file whose path matches fails with `code`, once. */
  failNext(fault: InjectedFault): void {
    if (this.faults.length >= FAULTS_MAX) throw new Error(`sim fs: ${FAULTS_MAX} faults already pending`);
    this.faults.push(fault);
  }

  /** Takes back every fault failNext injected that no write or sync has met yet (the disk was mended). */
  clearFaults(): void {
    this.faults = [];
  }

  /**
   * Bit rot: one bit of a file's content flips, in what a crash keeps and in what reads see (a sector
   * the disk damaged after the data was synced). Only on a file with nothing unsynced (its machine is
   * down), and inside its content.
   */
  flipBit(path: string, offsetBytes: number, bit: number): void {
    const f = this.lookup(path, 'flip');
    if (f.kind !== 'file') fail('EISDIR', 'flip', path);
    if (f.unsynced.length > 0 || f.data.size !== f.durable.size)
      throw new Error(`sim fs: bit flip in ${path}, which has ${f.unsynced.length} unsynced changes`);
    if (
      !Number.isSafeInteger(offsetBytes) ||
      offsetBytes < 0 ||
      offsetBytes >= f.durable.size ||
      bit < 0 ||
      bit > 7
    )
      throw new Error(`sim fs: bit ${bit} of byte ${offsetBytes} outside ${path} (${f.durable.size} bytes)`);
    for (const bytes of [f.durable, f.data]) {
      const view = bytes.view();
      view[offsetBytes] = (view[offsetBytes] as number) ^ (1 << bit);
    }
  }

  stats(): SimFileSystemStats {
    return { ...this.counters };
  }

  /**
   * Power loss: every FileSystem mounted so far dies; each directory and file keeps its durable state
   * plus what `rng` lets survive of the rest (the contract in file-system.ts). Faults pending are kept.
   */
  crash(rng: Rng): void {
    this.life++;
    this.counters.crashes++;
    const files = new Set<FileInode>();
    const dirs: DirInode[] = [this.root];
    // Bounded by the number of directories (each is reached once: a tree, mkdir is durable).
    for (let i = 0; i < dirs.length; i++) {
      const dir = dirs[i]!;
      const keep = rng.nextInt(dir.unsynced.length + 1);
      for (const change of dir.unsynced.slice(0, keep)) applyDir(dir.durable, change);
      dir.unsynced = [];
      dir.entries = new Map(dir.durable);
      for (const inode of dir.entries.values()) {
        if (inode.kind === 'dir') dirs.push(inode);
        else files.add(inode);
      }
    }
    for (const f of files) f.links = 0;
    for (const dir of dirs)
      for (const inode of dir.entries.values()) if (inode.kind === 'file') inode.links++;
    this.usedBytes = 0;
    for (const f of files) {
      this.tear(f, rng);
      f.data = f.durable.copy();
      f.openHandles = 0;
      this.usedBytes += f.data.size;
    }
    this.inodes = dirs.length + files.size;
  }

  /**
   * As `echo 3 > /proc/sys/vm/drop_caches`: files with nothing unsynced are read back from the disk.
   * After a failed sync, this is when the writes the kernel dropped disappear from reads too.
   */
  dropCaches(): void {
    const dirs: DirInode[] = [this.root];
    for (let i = 0; i < dirs.length; i++) {
      for (const inode of dirs[i]!.entries.values()) {
        if (inode.kind === 'dir') dirs.push(inode);
        else if (inode.unsynced.length === 0) {
          this.usedBytes += inode.durable.size - inode.data.size;
          inode.data = inode.durable.copy();
        }
      }
    }
  }

  private tear(f: FileInode, rng: Rng): void {
    if (this.tearing === 'prefix') {
      const keep = rng.nextInt(f.unsynced.length + 1);
      for (const change of f.unsynced.slice(0, keep)) apply(f.durable, change);
      const cut = f.unsynced[keep];
      if (cut?.kind === 'write') {
        const bytes = rng.nextInt(cut.data.length + 1);
        if (bytes > 0) f.durable.write(cut.positionBytes, cut.data.subarray(0, bytes));
      }
    } else {
      for (const change of f.unsynced) {
        if (change.kind === 'truncate') {
          if (rng.nextInt(2) === 1) f.durable.truncate();
          continue;
        }
        // Sectors are aligned to the file, as the disk's are.
        const end = change.positionBytes + change.data.length;
        for (let at = change.positionBytes; at < end; ) {
          const next = Math.min(end, (Math.floor(at / SECTOR_BYTES) + 1) * SECTOR_BYTES);
          if (rng.nextInt(2) === 1) {
            const from = at - change.positionBytes;
            f.durable.write(at, change.data.subarray(from, from + next - at));
          }
          at = next;
        }
      }
    }
    f.unsynced = [];
  }

  // ---- operations of a mount (checked for its life by SimMount) ----------------------------------

  /** @internal */
  isAlive(life: number): boolean {
    return life === this.life;
  }

  /** @internal */
  lookup(path: string, syscall: string): Inode {
    let at: Inode = this.root;
    for (const name of components(path, syscall)) {
      if (at.kind !== 'dir') fail('ENOTDIR', syscall, path);
      const next = at.entries.get(name);
      if (next === undefined) fail('ENOENT', syscall, path);
      at = next;
    }
    return at;
  }

  /** @internal The directory holding `path`, and the name in it. */
  parentOf(path: string, syscall: string): { dir: DirInode; name: string } {
    const names = components(path, syscall);
    const name = names.pop();
    if (name === undefined) fail('EISDIR', syscall, path);
    const dir = this.lookup(`/${names.join('/')}`, syscall);
    if (dir.kind !== 'dir') fail('ENOTDIR', syscall, path);
    return { dir, name };
  }

  /** @internal */
  openFile(path: string, mode: OpenMode): FileInode {
    if (!createsFile(mode)) {
      const inode = this.lookup(path, 'open');
      if (inode.kind !== 'file') fail('EISDIR', 'open', path);
      inode.openHandles++;
      return inode;
    }
    const { dir, name } = this.parentOf(path, 'open');
    const existing = dir.entries.get(name);
    if (existing?.kind === 'dir') fail('EISDIR', 'open', path);
    if (existing !== undefined) {
      this.change(existing, { kind: 'truncate' });
      this.usedBytes -= existing.data.size;
      existing.data.truncate();
      existing.openHandles++;
      return existing;
    }
    if (this.inodes >= INODES_MAX) throw new Error(`sim fs: ${INODES_MAX} files and directories already`);
    const inode: FileInode = {
      kind: 'file',
      id: this.nextInodeId++,
      data: new Bytes(),
      durable: new Bytes(),
      unsynced: [],
      links: 1,
      openHandles: 1,
      path,
    };
    this.inodes++;
    dir.entries.set(name, inode);
    this.dirChange(dir, { kind: 'link', name, inode });
    return inode;
  }

  /** @internal A handle of `f` was closed. */
  closed(f: FileInode): void {
    if (f.openHandles <= 0)
      throw new Error(`sim fs: inode ${f.id} closed with ${f.openHandles} handles open`);
    f.openHandles--;
    this.maybeFree(f);
  }

  /** @internal Writes what fits; returns the count. */
  write(f: FileInode, data: Buffer, positionBytes: number, dsync: boolean): number {
    const path = f.path;
    if (!Number.isSafeInteger(positionBytes) || positionBytes < 0) {
      throw new Error(`sim fs: write at position ${positionBytes} of ${path}`);
    }
    this.counters.writes++;
    this.injected('write', path, 'write');
    const free = Math.max(0, this.capacity - this.usedBytes);
    const fits = Math.min(data.length, f.data.size + free - positionBytes);
    if (data.length > 0 && fits <= 0) fail('ENOSPC', 'write', path);
    const written = data.subarray(0, Math.max(0, fits));
    const before = f.data.size;
    f.data.write(positionBytes, written);
    this.usedBytes += f.data.size - before;
    // A file truncated by its 'create-dsync' open: the size its first O_DSYNC write makes durable
    // takes the truncation with it (here from the write's start: a crash during that write keeps the
    // file empty, not its old content, which no caller reads back).
    if (dsync && f.unsynced.length > 0 && f.unsynced.every((c) => c.kind === 'truncate')) {
      for (const c of f.unsynced) apply(f.durable, c);
      f.unsynced = [];
    }
    // The model orders unsynced writes only through a sync: an O_DSYNC write after plain ones would
    // need a range sync. No caller mixes them (the WAL zeroes a torn tail and syncs before appending).
    if (dsync && f.unsynced.length > 0) {
      throw new Error(`sim fs: O_DSYNC write to ${path} with ${f.unsynced.length} unsynced writes before it`);
    }
    // An O_DSYNC write too is unsynced until it returns (dsyncWritten): a crash meanwhile may tear it.
    this.change(f, { kind: 'write', positionBytes, data: Buffer.from(written) });
    return written.length;
  }

  /** @internal An O_DSYNC write returns: it is durable (it is the file's only unsynced change). */
  dsyncWritten(f: FileInode): void {
    const change = f.unsynced[0];
    if (f.unsynced.length !== 1 || change === undefined) {
      throw new Error(
        `sim fs: O_DSYNC write to ${f.path} returns with ${f.unsynced.length} unsynced changes`,
      );
    }
    apply(f.durable, change);
    f.unsynced = [];
  }

  /** @internal fdatasync/fsync of a file. A failure drops its unsynced writes from the way to the disk. */
  syncFile(f: FileInode, syscall: string): void {
    const path = f.path;
    this.counters.fileSyncs++;
    try {
      this.injected('sync', path, syscall);
    } catch (e) {
      // As Linux after a failed writeback: the pages are marked clean, reads still show them, and a
      // later sync has nothing to write: they are lost at the next crash or cache drop.
      f.unsynced = [];
      throw e;
    }
    for (const change of f.unsynced) apply(f.durable, change);
    f.unsynced = [];
  }

  /** @internal */
  syncDir(dir: DirInode, path: string): void {
    this.counters.dirSyncs++;
    this.injected('sync', path, 'fsync');
    dir.durable = new Map(dir.entries);
    dir.unsynced = [];
  }

  /** @internal */
  mkdir(path: string): void {
    let at: DirInode = this.root;
    const names = components(path, 'mkdir');
    for (const [i, name] of names.entries()) {
      const next = at.entries.get(name);
      if (next?.kind === 'file') fail(i === names.length - 1 ? 'EEXIST' : 'ENOTDIR', 'mkdir', path);
      if (next !== undefined) {
        at = next;
        continue;
      }
      if (this.inodes >= INODES_MAX) throw new Error(`sim fs: ${INODES_MAX} files and directories already`);
      const dir: DirInode = {
        kind: 'dir',
        id: this.nextInodeId++,
        entries: new Map(),
        durable: new Map(),
        unsynced: [],
      };
      this.inodes++;
      // Durably linked at once, as mkdir promises (the real one fsyncs the parent).
      at.entries.set(name, dir);
      at.durable.set(name, dir);
      this.counters.dirSyncs++;
      at = dir;
    }
  }

  /** @internal */
  rename(from: string, to: string): void {
    const src = this.parentOf(from, 'rename');
    const dst = this.parentOf(to, 'rename');
    if (src.dir !== dst.dir) {
      // Atomic across a crash only within one directory in this model; no caller needs more.
      throw new Error(`sim fs: rename across directories (${from} to ${to}) is not modelled`);
    }
    const inode = src.dir.entries.get(src.name);
    if (inode === undefined) fail('ENOENT', 'rename', from);
    if (inode.kind === 'dir') throw new Error(`sim fs: renaming directory ${from} is not modelled`);
    if (src.name === dst.name) return;
    const replaced = dst.dir.entries.get(dst.name);
    if (replaced?.kind === 'dir') fail('EISDIR', 'rename', to);
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, inode);
    inode.path = to;
    this.dirChange(src.dir, { kind: 'rename', from: src.name, to: dst.name, inode });
    if (replaced !== undefined) {
      replaced.links--;
      this.maybeFree(replaced);
    }
  }

  /** @internal */
  unlink(path: string): void {
    const { dir, name } = this.parentOf(path, 'unlink');
    const inode = dir.entries.get(name);
    if (inode === undefined) fail('ENOENT', 'unlink', path);
    if (inode.kind === 'dir') fail('EISDIR', 'unlink', path);
    dir.entries.delete(name);
    this.dirChange(dir, { kind: 'unlink', name });
    inode.links--;
    this.maybeFree(inode);
  }

  /** @internal */
  freeBytes(): number {
    return Math.max(0, this.capacity - this.usedBytes);
  }

  private change(f: FileInode, change: FileChange): void {
    if (f.unsynced.length >= UNSYNCED_CHANGES_MAX) {
      throw new Error(`sim fs: ${UNSYNCED_CHANGES_MAX} unsynced writes to inode ${f.id}`);
    }
    f.unsynced.push(change);
  }

  private dirChange(dir: DirInode, change: DirChange): void {
    if (dir.unsynced.length >= UNSYNCED_CHANGES_MAX) {
      throw new Error(`sim fs: ${UNSYNCED_CHANGES_MAX} unsynced changes to directory inode ${dir.id}`);
    }
    dir.unsynced.push(change);
  }

  /** An inode no name reaches and no handle holds gives its space back (its durable copy may still come back in a crash). */
  private maybeFree(f: FileInode): void {
    if (f.links < 0) throw new Error(`sim fs: inode ${f.id} has ${f.links} links`);
    if (f.links > 0 || f.openHandles > 0) return;
    this.usedBytes -= f.data.size;
    this.inodes--;
  }

  private injected(op: InjectedFault['op'], path: string, syscall: string): void {
    const i = this.faults.findIndex(
      (f) => f.op === op && (typeof f.path === 'string' ? f.path === path : f.path.test(path)),
    );
    if (i < 0) return;
    const fault = this.faults[i]!;
    this.faults.splice(i, 1);
    fail(
      fault.code,
      syscall,
      path,
      `${fault.code === 'EIO' ? 'i/o error' : 'no space left on device'} (injected)`,
    );
  }
}

/** The names along an absolute path ('/a/b' → ['a', 'b']). */
function components(path: string, syscall: string): string[] {
  if (!posix.isAbsolute(path)) throw new Error(`sim fs: ${syscall} of relative path '${path}'`);
  const names = posix
    .normalize(path)
    .split('/')
    .filter((n) => n !== '');
  for (const n of names) {
    if (n === '..' || Buffer.byteLength(n) > NAME_BYTES_MAX) fail('ENOENT', syscall, path, `bad name '${n}'`);
  }
  return names;
}

/** One process life's view of a SimFileSystem. */
class SimMount implements FileSystem {
  readonly supportsDsync = true;
  private readonly disk: SimFileSystem;
  private readonly life: number;

  constructor(disk: SimFileSystem, life: number) {
    this.disk = disk;
    this.life = life;
  }

  /** @internal Throws when the disk crashed since this mount was made. */
  check(syscall: string, path: string): SimFileSystem {
    if (!this.isAlive()) fail('EIO', syscall, path, 'the process crashed (simulated)');
    return this.disk;
  }

  /** @internal */
  isAlive(): boolean {
    return this.disk.isAlive(this.life);
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const inode = this.check('open', path).openFile(path, mode);
    return new SimHandle(this, inode, path, writesDurably(mode));
  }

  async readFile(path: string): Promise<Buffer> {
    const inode = this.check('open', path).lookup(path, 'open');
    if (inode.kind !== 'file') fail('EISDIR', 'read', path);
    return Buffer.from(inode.data.view());
  }

  async readRange(path: string, positionBytes: number, lengthBytes: number): Promise<Buffer> {
    const inode = this.check('open', path).lookup(path, 'open');
    if (inode.kind !== 'file') fail('EISDIR', 'read', path);
    const view = inode.data.view();
    const from = Math.min(positionBytes, view.length);
    return Buffer.from(view.subarray(from, Math.min(view.length, positionBytes + lengthBytes)));
  }

  async readdir(path: string): Promise<string[]> {
    const inode = this.check('scandir', path).lookup(path, 'scandir');
    if (inode.kind !== 'dir') fail('ENOTDIR', 'scandir', path);
    return [...inode.entries.keys()].sort();
  }

  async mkdir(path: string): Promise<void> {
    this.check('mkdir', path).mkdir(path);
  }

  async rename(from: string, to: string): Promise<void> {
    this.check('rename', from).rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.check('unlink', path).unlink(path);
  }

  async syncPath(path: string): Promise<void> {
    const disk = this.check('fsync', path);
    const inode = disk.lookup(path, 'open');
    if (inode.kind === 'dir') disk.syncDir(inode, path);
    else disk.syncFile(inode, 'fsync');
  }

  async access(path: string, _want: 'exists' | 'writable'): Promise<void> {
    // No permissions and no read-only mounts in the model: what exists is writable.
    this.check('access', path).lookup(path, 'access');
  }

  async freeBytes(path: string): Promise<number> {
    const disk = this.check('statfs', path);
    disk.lookup(path, 'statfs');
    return disk.freeBytes();
  }
}

class SimHandle implements FileHandle {
  private readonly mount: SimMount;
  private readonly inode: FileInode;
  /** The name it was opened by (for messages; faults match the file's current name). */
  private readonly path: string;
  private readonly dsync: boolean;
  private isClosed = false;

  constructor(mount: SimMount, inode: FileInode, path: string, dsync: boolean) {
    this.mount = mount;
    this.inode = inode;
    this.path = path;
    this.dsync = dsync;
  }

  writev(views: readonly Uint8Array[], positionBytes: number): Promise<number> {
    return this.write(Buffer.concat(views), positionBytes);
  }

  async write(data: Uint8Array, positionBytes: number): Promise<number> {
    const n = this.disk('write').write(this.inode, Buffer.from(data), positionBytes, this.dsync);
    if (!this.dsync) return n;
    // In flight for one step, as the real call is until the disk acknowledges it: a crash now tears it.
    await Promise.resolve();
    this.disk('write').dsyncWritten(this.inode);
    return n;
  }

  async datasync(): Promise<void> {
    this.disk('fdatasync').syncFile(this.inode, 'fdatasync');
  }

  async sync(): Promise<void> {
    this.disk('fsync').syncFile(this.inode, 'fsync');
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    // After a crash the disk already forgot every open handle: closing one is a no-op.
    if (this.mount.isAlive()) this.mount.check('close', this.path).closed(this.inode);
  }

  private disk(syscall: string): SimFileSystem {
    if (this.isClosed) fail('EBADF', syscall, this.path);
    return this.mount.check(syscall, this.path);
  }
}
