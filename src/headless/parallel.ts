/** Runs `work` on each item with at most `parallel` at once, in order of the list; stops taking new items once `stop()` says so. */
export async function eachParallel<T>(items: T[], parallel: number, stop: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const item = items[next++];
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, items.length)) }, worker));
}
