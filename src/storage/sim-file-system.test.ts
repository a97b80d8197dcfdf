// The FileSystem contract (file-system.ts): one scenario run on the disk and on SimFileSystem must
// look the same; then what only the simulated disk can show: what a crash keeps, torn writes, names
// that were never made durable, a full disk, a failed sync.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FileSystem } from './file-system.ts';
import { REAL_FILE_SYSTEM } from './real-file-system.ts';
import { SimFileSystem } from './sim-file-system.ts';
import { KEEP_ALL, KEEP_NONE, seededRng, withTempDir } from './test-helpers.ts';

const CRASH_SEEDS = 64;

/** Runs one scenario of every operation and returns what a caller could observe of it. */
async function scenario(fs: FileSystem, root: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  const code = async (p: Promise<unknown>): Promise<void> => {
    seen.push(
      await p.then(
        () => 'ok',
        (e: unknown) => (e as { code?: unknown }).code,
      ),
    );
  };
  const dir = join(root, 'a', 'b');
  await fs.mkdir(dir);
  await fs.mkdir(dir); // again: nothing to do
  const f = await fs.open(join(dir, 'x.tmp'), 'create');
  seen.push(await f.writev([Buffer.from('hello '), Buffer.from('world')], 0));
  seen.push(await f.write(Buffer.from('!'), 14)); // past the end: the gap reads as zeroes
  await f.datasync();
  await f.close();
  await f.close(); // idempotent
  await fs.rename(join(dir, 'x.tmp'), join(dir, 'x'));
  await fs.syncPath(dir);
  seen.push((await fs.readFile(join(dir, 'x'))).toString('hex'));
  const u = await fs.open(join(dir, 'x'), 'update-dsync');
  seen.push(await u.write(Buffer.from('J'), 6));
  await u.sync();
  await u.close();
  seen.push((await fs.readFile(join(dir, 'x'))).toString('latin1'));
  const again = await fs.open(join(dir, 'x'), 'create'); // truncates
  await again.close();
  seen.push((await fs.readFile(join(dir, 'x'))).length);
  const y = await fs.open(join(dir, 'y'), 'create');
  await y.close();
  await fs.rename(join(dir, 'y'), join(dir, 'x')); // replaces x
  seen.push((await fs.readdir(dir)).sort());
  await fs.syncPath(join(dir, 'x'));
  await fs.unlink(join(dir, 'x'));
  seen.push(await fs.readdir(dir));
  seen.push((await fs.freeBytes(dir)) > 0);
  await code(fs.access(dir, 'exists'));
  await code(fs.access(dir, 'writable'));
  // The failures, by code.
  await code(fs.access(join(dir, 'none'), 'exists'));
  await code(fs.readFile(join(dir, 'none')));
  await code(fs.open(join(dir, 'none'), 'update'));
  await code(fs.open(join(dir, 'none', 'z'), 'create'));
  await code(fs.unlink(join(dir, 'none')));
  await code(fs.rename(join(dir, 'none'), join(dir, 'other')));
  await code(fs.syncPath(join(dir, 'none')));
  await code(fs.readFile(dir));
  await code(fs.unlink(dir));
  const file = await fs.open(join(dir, 'file'), 'create');
  await file.close();
  await code(fs.readdir(join(dir, 'file')));
  await code(fs.mkdir(join(dir, 'file')));
  await code(fs.mkdir(join(dir, 'file', 'sub')));
  await code(fs.open(join(dir, 'file', 'sub'), 'create'));
  return seen;
}

test('the same scenario on the disk and on the simulated disk is observed the same way', async () => {
  await withTempDir(async (root) => {
    const real = await scenario(REAL_FILE_SYSTEM, root);
    const sim = new SimFileSystem({ capacityBytes: 1 << 20 });
    const simulated = await scenario(sim.mount(), root);
    assert.deepEqual(simulated, real);
    // The scenario is only as good as what it shows: the gap, the O_DSYNC overwrite, the codes.
    assert.equal(real[2], Buffer.from('hello world\0\0\0!').toString('hex'));
    assert.equal(real[4], 'hello Jorld\0\0\0!');
    const codes = ['ok', 'ok', ...Array(7).fill('ENOENT'), 'EISDIR', 'EISDIR', 'ENOTDIR', 'EEXIST'];
    assert.deepEqual(real.slice(-15), [...codes, 'ENOTDIR', 'ENOTDIR']);
  });
});

/** A disk with /d holding `name` (durably created and synced with `content`). */
async function diskWithFile(name: string, content: string): Promise<{ disk: SimFileSystem; fs: FileSystem }> {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  const fs = disk.mount();
  await fs.mkdir('/d');
  const f = await fs.open(`/d/${name}`, 'create');
  await f.write(Buffer.from(content), 0);
  await f.datasync();
  await f.close();
  await fs.syncPath('/d');
  return { disk, fs };
}

test('a crash keeps what was synced, and of the rest at most a prefix in order, the last write cut anywhere', async () => {
  const outcomes = new Set<string>();
  for (let seed = 0; seed < CRASH_SEEDS; seed++) {
    const { disk, fs } = await diskWithFile('f', 'durable.');
    const f = await fs.open('/d/f', 'update');
    await f.write(Buffer.from('AAAA'), 8);
    await f.write(Buffer.from('BBBB'), 12);
    await f.close(); // closing makes nothing durable
    disk.crash(seededRng(seed));
    const after = (await disk.mount().readFile('/d/f')).toString();
    assert.ok('durable.AAAABBBB'.startsWith(after) && after.startsWith('durable.'), `seed ${seed}: ${after}`);
    outcomes.add(after);
  }
  // Every cut of the two unsynced writes is possible; the seeds reach a good share of them.
  assert.ok(outcomes.has('durable.') && outcomes.size >= 6, [...outcomes].join(' | '));
});

test('an O_DSYNC write is durable when it returns; a plain one only after datasync', async () => {
  const { disk, fs } = await diskWithFile('f', '........');
  const dsync = await fs.open('/d/f', 'update-dsync');
  await dsync.write(Buffer.from('D'), 0);
  const plain = await fs.open('/d/f', 'update');
  await plain.write(Buffer.from('P'), 1);
  disk.crash(KEEP_NONE);
  assert.equal((await disk.mount().readFile('/d/f')).toString(), 'D.......');
  await assert.rejects(plain.datasync(), { code: 'EIO' }, 'a handle of a crashed process is dead');
  // Until it returns, an O_DSYNC write is in flight: the power may go before it reached the disk.
  const again = await diskWithFile('g', '........');
  const inFlight = (await again.fs.open('/d/g', 'update-dsync')).write(Buffer.from('D'), 0);
  again.disk.crash(KEEP_NONE);
  await assert.rejects(inFlight, { code: 'EIO' });
  assert.equal((await again.disk.mount().readFile('/d/g')).toString(), '........');
});

test("a file created O_DSYNC ('create-dsync') truncates and creates as 'create' does, and its writes are durable when they return", async () => {
  const { disk, fs } = await diskWithFile('f', 'old content');
  const f = await fs.open('/d/f', 'create-dsync');
  await f.write(Buffer.from('new'), 0);
  const created = await fs.open('/d/g', 'create-dsync');
  await created.write(Buffer.from('G'), 0);
  await fs.syncPath('/d');
  disk.crash(KEEP_NONE);
  assert.equal((await disk.mount().readFile('/d/f')).toString(), 'new');
  assert.equal((await disk.mount().readFile('/d/g')).toString(), 'G');
});

test('a name created or renamed without an fsync of its directory may vanish in a crash; with one it stays', async () => {
  for (const [rng, kept] of [
    [KEEP_NONE, false],
    [KEEP_ALL, true],
  ] as const) {
    const { disk, fs } = await diskWithFile('old', 'x');
    const tmp = await fs.open('/d/new.tmp', 'create');
    await tmp.write(Buffer.from('new'), 0);
    await tmp.datasync();
    await tmp.close();
    await fs.rename('/d/new.tmp', '/d/new');
    await fs.unlink('/d/old');
    disk.crash(rng);
    assert.deepEqual(await disk.mount().readdir('/d'), kept ? ['new'] : ['old']);
  }
  const { disk, fs } = await diskWithFile('old', 'x');
  await fs.rename('/d/old', '/d/new');
  await fs.syncPath('/d');
  disk.crash(KEEP_NONE);
  assert.deepEqual(await disk.mount().readdir('/d'), ['new']);
  // A rename is atomic: across seeds, exactly one of the two names, never both, never neither.
  for (let seed = 0; seed < CRASH_SEEDS; seed++) {
    const again = await diskWithFile('a', 'x');
    await again.fs.rename('/d/a', '/d/b');
    again.disk.crash(seededRng(seed));
    const names = await again.disk.mount().readdir('/d');
    assert.ok(names.length === 1 && ['a', 'b'].includes(names[0]!), `seed ${seed}: ${names}`);
  }
});

test('mkdir links what it creates durably', async () => {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  await disk.mount().mkdir('/r/wal');
  disk.crash(KEEP_NONE);
  assert.deepEqual(await disk.mount().readdir('/r'), ['wal']);
});

test('a full disk: a write is short, then fails with ENOSPC; overwriting needs no room; freed room is reused', async () => {
  const disk = new SimFileSystem({ capacityBytes: 100 });
  const fs = disk.mount();
  await fs.mkdir('/d');
  const f = await fs.open('/d/f', 'create');
  assert.equal(await f.write(Buffer.alloc(80), 0), 80);
  assert.equal(await fs.freeBytes('/d'), 20);
  assert.equal(await f.write(Buffer.alloc(50, 1), 80), 20, 'what fits');
  await assert.rejects(f.write(Buffer.alloc(1), 100), { code: 'ENOSPC' });
  assert.equal(await f.write(Buffer.alloc(100, 2), 0), 100, 'an overwrite inside the file');
  await f.close();
  await fs.unlink('/d/f');
  assert.equal(await fs.freeBytes('/d'), 100);
});

test('injected faults: EIO on a write writes nothing; a failed sync loses the writes before it, silently after', async () => {
  const { disk, fs } = await diskWithFile('f', 'old.');
  const f = await fs.open('/d/f', 'update');
  disk.failNext({ op: 'write', path: '/d/f', code: 'EIO' });
  await assert.rejects(f.write(Buffer.from('zzzz'), 0), { code: 'EIO' });
  await f.write(Buffer.from('new.'), 0);
  disk.failNext({ op: 'sync', path: /\/f$/, code: 'EIO' });
  await assert.rejects(f.datasync(), { code: 'EIO' });
  await f.datasync(); // succeeds, and writes nothing: the failed pages were marked clean
  assert.equal((await fs.readFile('/d/f')).toString(), 'new.', 'the cache still shows them');
  disk.dropCaches();
  assert.equal((await fs.readFile('/d/f')).toString(), 'old.', 'the disk never had them');
});

test('a crash is deterministic: the same seed keeps the same bytes and names', async () => {
  const run = async (seed: number): Promise<string> => {
    const disk = new SimFileSystem({ capacityBytes: 1 << 20, tearing: 'sectors' });
    const fs = disk.mount();
    await fs.mkdir('/d');
    for (let i = 0; i < 8; i++) {
      const f = await fs.open(`/d/f${i}`, 'create');
      await f.write(Buffer.alloc(1500 + i, i + 1), 0);
      if (i % 2 === 0) await f.datasync();
      await f.close();
    }
    disk.crash(seededRng(seed));
    const after = disk.mount();
    const out: string[] = [];
    for (const name of await after.readdir('/d'))
      out.push(`${name}:${(await after.readFile(`/d/${name}`)).toString('hex')}`);
    return out.join(',');
  };
  assert.equal(await run(7), await run(7));
  assert.notEqual(await run(7), await run(8));
});

test('bit rot, a disk filled by others, and faults taken back: flipBit, fillUp, clearFaults', async () => {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  const fs = disk.mount();
  await fs.mkdir('/d');
  const fh = await fs.open('/d/f', 'create');
  await fh.write(Buffer.from('abc'), 0);
  await fh.datasync();
  await fh.close();
  await fs.syncPath('/d');
  assert.throws(() => disk.flipBit('/d/f', 3, 0), /outside/, 'only inside the content');
  disk.flipBit('/d/f', 1, 0);
  assert.equal((await fs.readFile('/d/f')).toString(), 'acc', 'what reads see');
  disk.crash(KEEP_NONE);
  const after = disk.mount();
  assert.equal((await after.readFile('/d/f')).toString(), 'acc', 'what a crash keeps');
  disk.fillUp(2);
  assert.equal(await after.freeBytes('/d'), 2);
  const g = await after.open('/d/g', 'create');
  assert.equal(await g.write(Buffer.from('xyz'), 0), 2, 'a write beyond the room left is short');
  disk.setCapacity(disk.capacityBytes);
  assert.equal(await after.freeBytes('/d'), (1 << 20) - 5);
  disk.failNext({ op: 'write', path: '/d/g', code: 'EIO' });
  disk.clearFaults();
  assert.equal(await g.write(Buffer.from('z'), 2), 1, 'a fault taken back never strikes');
});
