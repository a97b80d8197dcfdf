// The calls a client has started and that have not settled yet, so that close() can wait for them.
// Each call is bounded by its own deadline (the attempt loop never outlives it), so the wait is too.

export class InFlightCalls {
  // Invariant: holds exactly the calls tracked and not yet settled (each removes itself on settling).
  private readonly calls = new Set<Promise<unknown>>();

  /** Tracks `call` until it settles; returns it unchanged. */
  track<T>(call: Promise<T>): Promise<T> {
    this.calls.add(call);
    const forget = (): void => {
      const had = this.calls.delete(call);
      if (!had) throw new Error('in-flight: a call settled twice');
    };
    call.then(forget, forget);
    return call;
  }

  get size(): number {
    return this.calls.size;
  }

  /**
   * Resolves true once every call in flight now has settled, or false after `waitMs` if some have
   * not (Infinity: no bound but theirs). Never rejects: a call's failure is its caller's to handle.
   */
  async settled(waitMs: number): Promise<boolean> {
    if (!(waitMs >= 0)) throw new RangeError(`waitMs must be >= 0, got ${waitMs}`);
    if (this.calls.size === 0) return true;
    const all = Promise.allSettled([...this.calls]).then(() => true);
    if (waitMs === Number.POSITIVE_INFINITY) return all;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), waitMs);
    });
    try {
      return await Promise.race([all, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
