// HTTP/2 PING keepalive for one session: a peer that vanished without closing its connection (power
// loss, a partition dropping packets) never sends a FIN or RST, and without traffic we would wait
// on its stream forever. Every interval one ping goes out; if the previous one is still unanswered
// when the next is due, the session is declared dead: noticed within two intervals (~20 s).
import type { Http2Session } from 'node:http2';

/**
 * Starts pinging `session`; calls `onDead` once (and stops) when a ping goes unanswered, and
 * `onRoundTrip` with each answered ping's round trip (ms). Returns stop().
 */
export function startKeepalive(
  session: Http2Session,
  intervalMs: number,
  onDead: (reason: string) => void,
  onRoundTrip?: (ms: number) => void,
): () => void {
  let outstanding = false;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
  };
  const timer = setInterval(() => {
    if (stopped || session.destroyed) return stop();
    if (outstanding) {
      stop();
      onDead(`no answer to a keepalive ping within ${intervalMs} ms`);
      return;
    }
    outstanding = true;
    try {
      session.ping((err, durationMs) => {
        if (err !== null) return;
        outstanding = false;
        onRoundTrip?.(durationMs);
      });
    } catch {
      // ping() throws on a session that is closing: its own 'close' event reports that.
    }
  }, intervalMs);
  timer.unref();
  return stop;
}
