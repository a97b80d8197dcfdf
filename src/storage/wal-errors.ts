// Typed errors of the write-ahead log. Expected failures carry a stable `code`; a broken invariant is a
// plain Error with the values in its message.

/** A record that cannot be trusted was found where acknowledged data lives: the node must not start. */
export class WalCorruptionError extends Error {
  override readonly name = 'WalCorruptionError';
  readonly code = 'WAL_CORRUPT';
  readonly file: string;
  readonly offsetBytes: number;
  readonly reason: string;

  constructor(file: string, offsetBytes: number, reason: string) {
    super(
      `write-ahead log corrupt in ${file} at byte offset ${offsetBytes}: ${reason}. ` +
        'Data after this point was acknowledged and cannot be trusted, so the node refuses to start. ' +
        'To recover: stop the node, move its data directory aside (keep it for diagnosis), and re-add the node so it catches up from the other replicas. Do not edit or truncate the file by hand.',
    );
    this.file = file;
    this.offsetBytes = offsetBytes;
    this.reason = reason;
  }
}

/**
 * A write or fdatasync failed. After a failed fdatasync the kernel may have dropped the dirty pages, or
 * marked them clean while the disk never got them, so retrying could report success for data that is
 * gone: the log refuses all further use, and the node stops.
 */
export class WalFailedError extends Error {
  override readonly name = 'WalFailedError';
  readonly code = 'WAL_FAILED';

  constructor(dir: string, cause: unknown) {
    super(
      `write-ahead log in ${dir} failed: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        'Nothing appended since the last successful sync was acknowledged, and the node stops rather than retry: ' +
        'after a failed sync Linux may mark the unwritten pages clean, so the file cache can show data the disk ' +
        'does not hold. Fix the cause (free space, permissions; for EIO check the disk, e.g. dmesg). Before ' +
        'restarting, drop the file cache (as root: sync; echo 1 > /proc/sys/vm/drop_caches) or reboot, so that ' +
        'the node reads what is really on disk; it also fsyncs every log and snapshot file before replaying them. ' +
        'If the disk is failing, start the node on another disk with an empty --raft_dir and re-add it.',
      { cause },
    );
  }
}

/** Appends outran syncs by more than the configured bound: the caller must sync (and wait) first. */
export class WalBackpressureError extends Error {
  override readonly name = 'WalBackpressureError';
  readonly code = 'WAL_PENDING_FULL';
  readonly pendingBytes: number;
  readonly pendingBytesMax: number;

  constructor(pendingBytes: number, pendingBytesMax: number) {
    super(
      `write-ahead log has ${pendingBytes} unsynced bytes, more than its bound of ${pendingBytesMax}: ` +
        'await sync() before appending more (or raise pendingBytesMax)',
    );
    this.pendingBytes = pendingBytes;
    this.pendingBytesMax = pendingBytesMax;
  }
}
