// The README quickstart, run the way the README tells it — three `serve`
// commands with the original flags (only the ports moved to free ones, in a temp directory so that
// `./data/nodeN` is relative as in the README), then `ringkv put` / `ringkv get` through the CLI,
// then one node stopped and put/get still succeeding.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProcessCluster, ProcessNode, runCli } from './harness.ts';

describe('README quickstart', { timeout: 120_000 }, () => {
  let c: ProcessCluster;
  let nodes: ProcessNode[];

  before(async () => {
    // ProcessCluster only for its temp directory, ports and cleanup; the command lines are the README's.
    c = await ProcessCluster.plan({ nodes: 3 });
    const planned = c.nodes.slice();
    const port = (i: number) => planned[i]!.port;
    const raftPort = (i: number) => planned[i]!.raftPort;
    // The admin port's default (--port + 1000) is moved to a free one too.
    const admin = (i: number) => ` --admin_port ${planned[i]!.adminPort}`;
    const readme = [
      `--port ${port(0)} --raft_port ${raftPort(0)} --node_id node1 --raft_dir ./data/node1 --bootstrap=true${admin(0)}`,
      `--port ${port(1)} --raft_port ${raftPort(1)} --node_id node2 --raft_dir ./data/node2 --join_addr=localhost:${port(0)}${admin(1)}`,
      `--port ${port(2)} --raft_port ${raftPort(2)} --node_id node3 --raft_dir ./data/node3 --join_addr=localhost:${port(0)}${admin(2)}`,
    ];
    nodes = readme.map(
      (line, i) => new ProcessNode(`node${i + 1}`, port(i), raftPort(i), line.split(' '), c.dir),
    );
    c.nodes.splice(0, c.nodes.length, ...nodes);
    // "Terminal 1", then "terminal 2" and "terminal 3".
    nodes[0]!.start();
    await c.waitAnswers(nodes[0]!, 30_000);
    nodes[1]!.start();
    nodes[2]!.start();
    await c.waitFormed(45_000);
  });

  after(async () => {
    await c?.cleanup();
  });

  test('9. put/get through the CLI, then with one node stopped', async () => {
    const env = { RINGKV_ENDPOINTS: nodes.map((n) => n.endpoint).join(',') };
    const put = await runCli(['put', 'hello', 'world', '--endpoints', nodes[0]!.endpoint]);
    assert.equal(put.code, 0, put.stderr);
    const get = await runCli(['get', 'hello', '--endpoints', nodes[0]!.endpoint]);
    assert.deepEqual([get.code, get.stdout], [0, 'world\n'], get.stderr);

    await nodes[1]!.kill('SIGKILL');
    const put2 = await runCli(['put', 'hello', 'again'], { env });
    assert.equal(put2.code, 0, `${put2.stderr}\n${c.tails(10)}`);
    for (const n of [nodes[0]!, nodes[2]!]) {
      const r = await runCli(['get', 'hello', '--endpoints', n.endpoint]);
      assert.deepEqual([r.code, r.stdout], [0, 'again\n'], r.stderr);
    }
    // One node of three is down: status lists it, warns that another failure would stop the
    // cluster, and exits 1 (problems listed).
    const status = await runCli(['cluster', 'status'], { env });
    assert.equal(status.code, 1, status.stderr);
    assert.match(status.stdout, /node2.*unreachable/);
    assert.match(
      status.stdout,
      /^warning: the cluster cannot survive another failure: node2 is unreachable/m,
    );
  });
});
