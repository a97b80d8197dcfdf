// The NOSPACE alarm, raised before the log can fail for want of space (as etcd's): while it is on,
// this node refuses client writes with RESOURCE_EXHAUSTED (retry-safe: nothing was started), drops
// the proposals other nodes' cores forward to it (node.ts: as if lost; their clients hear "maybe" if
// the alarm outlasts the deadline), and keeps serving reads, heartbeats and ReadIndex, and
// replicating what its leaders send. It is on
// while the WAL could not prepare its next segment, or while the file system has less free space
// than one segment (so the segment after the prepared one could not be made); it goes off by
// itself once there is room for one and a half segments again (the margin keeps it from flapping), after a
// snapshot released log segments or an operator freed space. The WAL reports a failed preparation at
// once (checkSoon), so the alarm does not wait for its poll; should the log still reach a rollover
// without a prepared segment, that round waits (nothing in it acknowledged) until space is back.
import type { Logger } from 'pino';
import type { Clock, Timer } from './clock.ts';

/** How often free space is measured. */
export const DISK_CHECK_MS = 1_000;

/** What the alarm needs of the node and its log. */
export interface DiskAlarmHost {
  readonly nodeId: string;
  readonly raftDir: string;
  readonly segmentBytes: number;
  readonly logger: Pick<Logger, 'warn' | 'info' | 'debug'>;
  /** The poll's timer. */
  readonly clock: Pick<Clock, 'every' | 'cancel'>;
  /** Why the WAL's next segment is not ready, or undefined; and a retry of its preparation. */
  readonly wal: { nextSegmentProblem(): string | undefined; retryPreparing(): void };
  freeBytes(path: string): Promise<number>;
}

export interface DiskAlarmState {
  readonly freeBytes: number;
  readonly neededBytes: number;
  /** The WAL's own failure to prepare a segment, if that is what raised it. */
  readonly walProblem: string | undefined;
}

const MIB = 1024 * 1024;

export class DiskAlarm {
  private readonly host: DiskAlarmHost;
  private timer: Timer | undefined;
  private checking = false;
  /** A check was asked for while one ran: run another when it ends (it may have read stale state). */
  private again = false;
  /** Undefined while off. */
  private on: DiskAlarmState | undefined;

  constructor(host: DiskAlarmHost) {
    this.host = host;
  }

  start(): void {
    this.timer = this.host.clock.every(DISK_CHECK_MS, () => this.checkSoon());
  }

  /** Runs a check now unless one is running (the WAL calls it when a segment could not be prepared). */
  checkSoon(): void {
    if (this.timer === undefined) return;
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    this.check()
      .catch((e: unknown) => this.host.logger.debug({ err: (e as Error).message }, 'disk check failed'))
      .finally(() => {
        this.checking = false;
        if (this.again) {
          this.again = false;
          this.checkSoon();
        }
      });
  }

  stop(): void {
    if (this.timer !== undefined) this.host.clock.cancel(this.timer);
    this.timer = undefined;
  }

  get state(): DiskAlarmState | undefined {
    return this.on;
  }

  /** Why a client write is refused now, or undefined. */
  refusal(): string | undefined {
    const on = this.on;
    if (on === undefined) return undefined;
    const mib = (n: number): string => `${Math.floor(n / MIB)} MiB`;
    return (
      `node ${this.host.nodeId} is out of disk space (NOSPACE alarm): ${mib(on.freeBytes)} free in ${this.host.raftDir}, ` +
      `it needs ${mib(on.neededBytes)}${on.walProblem === undefined ? '' : ` (${on.walProblem})`}; the write was not started. ` +
      'Free space on that file system (the alarm clears by itself), then retry'
    );
  }

  async check(): Promise<void> {
    const h = this.host;
    const free = await h.freeBytes(h.raftDir);
    const needed = h.segmentBytes;
    let problem = h.wal.nextSegmentProblem();
    const clearAt = Math.ceil(1.5 * needed);
    if (problem !== undefined && free >= clearAt) {
      h.wal.retryPreparing(); // room again: the next check sees whether it worked
      problem = undefined;
    }
    if (this.on === undefined && (problem !== undefined || free < needed)) {
      this.on = { freeBytes: free, neededBytes: needed, walProblem: problem };
      h.logger.warn(
        { freeBytes: free, neededBytes: needed, walProblem: problem },
        'NOSPACE alarm raised: refusing writes',
      );
    } else if (this.on !== undefined) {
      if (problem === undefined && free >= clearAt) {
        this.on = undefined;
        h.logger.info({ freeBytes: free }, 'NOSPACE alarm cleared: accepting writes again');
      } else {
        this.on = { freeBytes: free, neededBytes: needed, walProblem: problem };
      }
    }
  }
}
