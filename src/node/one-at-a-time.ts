// Runs asynchronous tasks one after another, in the order they are handed in: a task starts once
// every task handed in before it has settled (fulfilled or rejected). Nothing is dropped; a task's
// outcome is its own, whatever the tasks before it did. The queue is as long as the callers waiting,
// each of which bounds its own wait (a task checks its deadline when it starts).
export class OneAtATime {
  /** Settles when the last task handed in has settled; never rejects. */
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
