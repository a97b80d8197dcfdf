import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import {
  BackupFileError,
  decodeManifest,
  END_BYTES,
  encodeManifest,
  FILE_HEADER_BYTES,
  type Manifest,
  SECTION_HEADER_BYTES,
  SECTION_TRAILER_BYTES,
} from './backup-file.ts';
import { readShard, verifyBackup } from './backup-reader.ts';
import { BackupWriter } from './backup-writer.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ringkv-backup-file-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function manifestOf(shards: readonly Uint8Array[]): Manifest {
  return {
    format: 'ringkv-backup',
    version: 1,
    clusterId: 'c0ffee',
    shardCount: shards.length,
    slotCount: 4096,
    createdAt: '2026-01-01T00:00:00.000Z',
    shards: shards.map((d, i) => ({
      shard: i + 1,
      slotFirst: i,
      slotLast: i,
      appliedIndex: 10 + i,
      keys: i,
      bytes: d.byteLength,
      crc32: crc32(d),
    })),
  };
}

/** Writes the shards as a backup, each cut in chunks of `chunkBytes`; returns the file's path. */
async function writeBackup(name: string, shards: readonly Uint8Array[], chunkBytes = 7): Promise<string> {
  const path = join(dir, name);
  const w = await BackupWriter.create(path);
  for (let i = 0; i < shards.length; i++) {
    const d = shards[i]!;
    await w.beginShard(i + 1, d.byteLength);
    for (let off = 0; off < d.byteLength; off += chunkBytes)
      await w.append(d.subarray(off, off + chunkBytes));
    assert.equal(await w.endShard(), crc32(d));
  }
  await w.finish(manifestOf(shards));
  return path;
}

async function refusal(path: string): Promise<BackupFileError> {
  try {
    await verifyBackup(path);
  } catch (e) {
    assert.ok(e instanceof BackupFileError, `expected a BackupFileError, got ${String(e)}`);
    return e;
  }
  assert.fail(`${path} was accepted`);
}

const SHARDS = [
  Buffer.from('first shard'),
  Buffer.alloc(0),
  Buffer.from('the third shard, longer than a chunk'),
];

describe('backup file', () => {
  it('reads back what was written: manifest, sections, bytes', async () => {
    const path = await writeBackup('round-trip.rkvb', SHARDS);
    const v = await verifyBackup(path);
    assert.deepEqual(v.manifest, manifestOf(SHARDS));
    assert.equal(v.fileBytes, (await stat(path)).size);
    assert.deepEqual(
      v.sections.map((s) => [s.shard, s.length]),
      [
        [1, 11],
        [2, 0],
        [3, 36],
      ],
    );
    for (const s of v.sections) assert.deepEqual(await readShard(path, s), SHARDS[s.shard - 1]);
    // Layout: header, three framed shards, the framed manifest, the end marker.
    const framing = SECTION_HEADER_BYTES + SECTION_TRAILER_BYTES;
    const manifestBytes = encodeManifest(manifestOf(SHARDS)).byteLength;
    assert.equal(v.fileBytes, FILE_HEADER_BYTES + 3 * framing + 47 + framing + manifestBytes + END_BYTES);
  });

  it('refuses the file cut short at every length, saying so', async () => {
    const path = await writeBackup('whole.rkvb', SHARDS);
    const bytes = await readFile(path);
    const cut = join(dir, 'cut.rkvb');
    for (let n = 0; n < bytes.length; n++) {
      await writeFile(cut, bytes.subarray(0, n));
      const e = await refusal(cut);
      assert.match(e.message, n < FILE_HEADER_BYTES ? /shorter than a header/ : /cut short/, `cut at ${n}`);
    }
  });

  it('refuses the file with any one byte changed, naming the part', async () => {
    const path = await writeBackup('flip.rkvb', SHARDS);
    const bytes = await readFile(path);
    const flipped = join(dir, 'flipped.rkvb');
    const parts = new Set<string>();
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01]) {
        const copy = Buffer.from(bytes);
        copy[i] = copy[i]! ^ mask;
        await writeFile(flipped, copy);
        parts.add((await refusal(flipped)).part);
      }
    }
    for (const p of [
      'the file header',
      "shard 1's section",
      "shard 3's section",
      'the manifest',
      'the end marker',
    ])
      assert.ok(parts.has(p), `no flip was blamed on ${p}: ${[...parts].join('; ')}`);
  });

  it('refuses stray bytes after the end marker', async () => {
    const path = await writeBackup('stray.rkvb', SHARDS);
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.from([0])]));
    assert.match((await refusal(path)).message, /1 stray bytes follow/);
  });

  it('refuses a file that is not a backup', async () => {
    const path = join(dir, 'not-a-backup');
    await writeFile(path, 'hello, this is text\n');
    assert.match((await refusal(path)).message, /not a ringkv backup file/);
  });

  it('refuses a manifest that does not match the shard sections', async () => {
    const path = join(dir, 'mismatch.rkvb');
    const w = await BackupWriter.create(path);
    await w.beginShard(1, 3);
    await w.append(Buffer.from('abc'));
    await w.endShard();
    const m = manifestOf([Buffer.from('abd')]);
    await w.finish(m);
    assert.match((await refusal(path)).message, /not what the manifest records/);
  });

  it('a backup of one empty shard is valid', async () => {
    const path = await writeBackup('empty.rkvb', [Buffer.alloc(0)]);
    const v = await verifyBackup(path);
    assert.equal(v.manifest.shardCount, 1);
    assert.equal((await readShard(path, v.sections[0]!)).byteLength, 0);
  });

  it('the writer refuses shards out of order, bytes beyond a section, a section ended early', async () => {
    const w = await BackupWriter.create(join(dir, 'misuse.rkvb'));
    await assert.rejects(w.beginShard(2, 1), /expected 1/);
    await w.beginShard(1, 2);
    await assert.rejects(w.append(Buffer.from('abc')), /beyond shard 1's 2/);
    await w.append(Buffer.from('a'));
    await assert.rejects(w.endShard(), /ended at 1 of 2 bytes/);
    await w.append(Buffer.from('b'));
    await w.endShard();
    await assert.rejects(
      w.finish(manifestOf([Buffer.alloc(0), Buffer.alloc(0)])),
      /manifest of 2 shards after 1/,
    );
    await w.abort();
    await assert.rejects(stat(join(dir, 'misuse.rkvb.part')), /ENOENT/);
  });

  it('a shard begun again after its source failed part way leaves no trace of the first try', async () => {
    const path = join(dir, 'rewound.rkvb');
    const w = await BackupWriter.create(path);
    await w.beginShard(1, 100);
    await w.append(Buffer.alloc(100, 0x61)); // the whole first try, longer than the second
    w.rewindShard();
    await w.beginShard(1, 3);
    await w.append(Buffer.from('abc'));
    await w.endShard();
    await w.finish(manifestOf([Buffer.from('abc')]));
    const v = await verifyBackup(path);
    assert.deepEqual(await readShard(path, v.sections[0]!), Buffer.from('abc'));
  });

  it('the manifest is checked field by field', () => {
    const good = manifestOf(SHARDS);
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v));
    assert.deepEqual(decodeManifest(encodeManifest(good)), good);
    assert.match(decodeManifest(Buffer.from('{')) as string, /not JSON/);
    assert.match(decodeManifest(enc({ ...good, version: 2 })) as string, /version 2/);
    assert.match(decodeManifest(enc({ ...good, shardCount: 4 })) as string, /3 shard records for 4 shards/);
    const badShard = { ...good, shards: [{ ...good.shards[0], shard: 2 }, ...good.shards.slice(1)] };
    assert.match(decodeManifest(enc(badShard)) as string, /shard record 1 is malformed/);
    const bigCrc = { ...good, shards: [{ ...good.shards[0], crc32: 2 ** 32 }, ...good.shards.slice(1)] };
    assert.match(decodeManifest(enc(bigCrc)) as string, /out of range/);
    assert.throws(() => encodeManifest({ ...good, shardCount: 0 }), /shard count 0/);
  });
});
