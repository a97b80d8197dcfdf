// Runs `each` over `items`, at most `parallel` at a time, in order of start. The first failure stops
// the starting of more; it is thrown once every call under way has ended (none is left running).
export async function inParallel<T>(
  items: readonly T[],
  parallel: number,
  each: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await each(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
