// Stale replicas: a replica hosted here that the shard table gives this node no role in (hosting.ts
// isStaleReplica) is deleted only once a ReadIndex round on the metadata group shows the table
// current and the table still says so; a table replayed at a restart may be older than the shard's
// own configuration here, which a move recorded in a newer table put this node in.
//
// A round vouches for the table as of when it began, so it decides only the replicas noted before
// it began: a replica noted during a round may have been created by a move recorded after the round
// began, which the table the round passes may not hold yet (`ringkv sim --nodes 5`, seed 951754: a
// node behind on the metadata log deleted the replica a move had just given it, on the strength of
// a round begun before the move). Those wait for the next round, which begins as the last ends.
//
// One round at a time; the replicas noted are bounded by the shard count. A round that fails (the
// metadata group cannot be reached before the deadline) is not repeated at once: the host tries
// again later (the next metadata change, or a pause), noting the replicas again.

export interface StaleReplicaHost {
  /**
   * A ReadIndex round on the metadata group: resolves once this node has applied every metadata
   * entry committed when it was called; rejects when it cannot tell.
   */
  confirmTable(): Promise<void>;
  /** Deletes the shard's replica here if the table, now confirmed, still gives this node no role. */
  dropIfStale(shard: number): Promise<void>;
  /** A round failed: the replicas are noted again later. */
  roundFailed(err: unknown): void;
  isClosing(): boolean;
}

export class StaleReplicas {
  /** Noted since the current round began (or since the last one, when none runs). */
  private readonly noted = new Set<number>();
  private confirming = false;
  private readonly host: StaleReplicaHost;

  constructor(host: StaleReplicaHost) {
    this.host = host;
  }

  /** The table gives this node no role in `shard`, whose replica it hosts. */
  note(shard: number): void {
    this.noted.add(shard);
    this.begin();
  }

  /** Whether a round is under way (for tests and status). */
  get roundUnderWay(): boolean {
    return this.confirming;
  }

  private begin(): void {
    if (this.confirming || this.noted.size === 0 || this.host.isClosing()) return;
    this.confirming = true;
    const shards = [...this.noted];
    this.noted.clear();
    let failed = false;
    this.round(shards)
      .catch((err: unknown) => {
        failed = true;
        this.host.roundFailed(err);
      })
      .finally(() => {
        this.confirming = false;
        if (!failed) this.begin();
      });
  }

  private async round(shards: readonly number[]): Promise<void> {
    await this.host.confirmTable();
    for (const shard of shards) {
      if (this.host.isClosing()) return;
      await this.host.dropIfStale(shard);
    }
  }
}
