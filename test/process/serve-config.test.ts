// A node started from a config file and the environment, as an operator's unit file would: the
// file gives the node id, the data directory, the peer port and a port the environment overrides;
// a flag overrides both for the shard count. The node must serve on the environment's port, under
// the file's id, with the flag's shards — and on no other port.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePorts } from '../support/ports.ts';
import { ProcessCluster, ProcessNode, runCli } from './harness.ts';

/** Whether something accepts TCP connections on 127.0.0.1:`port` (bounded). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('serve from a config file and the environment', { timeout: 120_000 }, () => {
  let c: ProcessCluster;
  let node: ProcessNode;
  let filePort: number;

  before(async () => {
    // ProcessCluster for its temp directory, free ports and cleanup; the node's settings are ours.
    c = await ProcessCluster.plan({ nodes: 1 });
    const planned = c.nodes[0]!;
    [filePort] = (await freePorts(1)) as [number];
    const config = join(c.dir, 'node.yaml');
    writeFileSync(
      config,
      [
        '# settings of this node; RINGKV_ variables and flags override them',
        'node-id: from-file',
        'raft_dir: ./data/from-file',
        `raft_port: ${planned.raftPort}`,
        `port: ${filePort}`,
        'bootstrap: true',
        'shards: 7',
        '',
      ].join('\n'),
    );
    node = new ProcessNode(
      'from-file',
      planned.port,
      planned.raftPort,
      ['--config_file', config, '--shards', '3', '--admin_port', '0'],
      c.dir,
    );
    node.env = { RINGKV_PORT: String(planned.port), RINGKV_SHARDS: '5', RINGKV_LOG_LEVEL: 'warn' };
    c.nodes.splice(0, 1, node);
    node.start();
    await c.waitAnswers(node, 60_000);
  });

  after(async () => {
    await c?.cleanup();
  });

  test('it serves on the port of RINGKV_PORT, as the file’s node id, with the flag’s shard count', async () => {
    const put = await runCli(['put', 'configured', 'yes', '--endpoints', node.endpoint]);
    assert.equal(put.code, 0, `${put.stderr}\n${node.tail()}`);
    const get = await runCli(['get', 'configured', '--endpoints', node.endpoint]);
    assert.deepEqual([get.code, get.stdout], [0, 'yes\n'], get.stderr);
    const status = await c.statusOf(node, 5000);
    assert.ok(status !== undefined, node.tail());
    assert.equal(status.nodeId, 'from-file');
    assert.equal(status.shards.filter((g) => g.shardId !== 0).length, 3);
    assert.equal(await listening(filePort), false, `something listens on the file's port ${filePort}`);
  });
});
