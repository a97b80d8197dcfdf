import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort, freePorts } from './ports.ts';

test('freePort returns a port that can be bound right away', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536, `port ${port}`);
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((resolve) => s.close(() => resolve()));
});

test('freePorts returns n distinct ports', async () => {
  const ports = await freePorts(6);
  assert.equal(ports.length, 6);
  assert.equal(new Set(ports).size, 6, `distinct: ${ports}`);
});
