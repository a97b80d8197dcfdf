// The client places keys by the cluster's own rule, learned from Status: hash tags for a cluster
// that says so, whole keys for one created before them, and no key at all before it knows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatusResponse } from '../gen/ringkv/v1/kv.ts';
import { HASH_TAG_HASHING, shardOf, WHOLE_KEY_HASHING } from '../ring/slots.ts';
import { groupReport, statusReport } from './testing/status-fixtures.ts';
import { Topology } from './topology.ts';

const SHARDS = 64;

function status(hashTags: boolean | undefined): StatusResponse {
  return statusReport('n1', {
    shards: Array.from({ length: SHARDS }, (_, i) => groupReport(i + 1, [], '')),
    settings:
      hashTags === undefined
        ? undefined
        : { shardCount: SHARDS, replicationFactor: 3, deadNodeTimeoutMs: 1n, movesInFlightMax: 2, hashTags },
  });
}

/** A tagged key whose tag and whole-key hashes give different shards. */
function keyWhereRulesDiffer(): Uint8Array {
  for (let i = 0; i < 1000; i++) {
    const k = new TextEncoder().encode(`{t${i}}:x`);
    if (shardOf(k, SHARDS, HASH_TAG_HASHING) !== shardOf(k, SHARDS, WHOLE_KEY_HASHING)) return k;
  }
  throw new Error('no key found');
}

test('keys are placed by the rule Status gives, and not before it is known', () => {
  const key = keyWhereRulesDiffer();
  const t = new Topology(['localhost:1']);
  assert.equal(t.shardFor(key), undefined, 'nothing known');
  t.learnStatus(status(undefined));
  assert.equal(t.shardCount, SHARDS);
  assert.equal(t.shardFor(key), undefined, 'the shard count alone is not enough');
  t.learnStatus(status(true));
  assert.equal(t.shardFor(key), shardOf(key, SHARDS, HASH_TAG_HASHING));
  const old = new Topology(['localhost:1']);
  old.learnStatus(status(false));
  assert.equal(old.shardFor(key), shardOf(key, SHARDS, WHOLE_KEY_HASHING), 'a cluster from before hash tags');
  old.learnStatus(status(undefined));
  assert.equal(
    old.shardFor(key),
    shardOf(key, SHARDS, WHOLE_KEY_HASHING),
    'a Status without settings changes nothing',
  );
});
