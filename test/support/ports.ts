// Free loopback ports for tests and the benchmark: shared so that every harness finds ports the
// same way. A port is free only "a moment ago" (another process may take it before we bind it);
// callers that start servers on it retry or fail with a clear bind error.
import { createServer, type Server } from 'node:net';

function listenOnAnyPort(s: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      if (a !== null && typeof a === 'object') resolve(a.port);
      else reject(new Error('the loopback listener has no port'));
    });
  });
}

function close(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** A port that was free a moment ago: bind port 0 on 127.0.0.1, read it, close. */
export async function freePort(): Promise<number> {
  const s = createServer();
  try {
    return await listenOnAnyPort(s);
  } finally {
    await close(s);
  }
}

/** `n` distinct free ports (all bound at once, so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(servers.map(listenOnAnyPort));
  } finally {
    await Promise.all(servers.map((s) => (s.listening ? close(s) : Promise.resolve())));
  }
}
