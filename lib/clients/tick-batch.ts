/**
 * Gathers the calls made within one turn of the event loop into one call of `run` (at most `max` items
 * each), so N requests finishing together cost one round trip to a server instead of N. `run` answers
 * item by item in order; if it throws, every call of that batch rejects with the error. The latency added
 * is the rest of the current turn (setImmediate), not a timer.
 */
export function createTickBatcher<I, O>(
  run: (items: I[]) => Promise<O[]>,
  max = 256,
): (item: I) => Promise<O> {
  const pending: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  const flush = () => {
    const batch = pending.splice(0, max);
    if (pending.length > 0) setImmediate(flush);
    run(batch.map((p) => p.item)).then(
      (out) => {
        for (let i = 0; i < batch.length; i++) (batch[i] as (typeof batch)[number]).resolve(out[i] as O);
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    );
  };
  return (item) =>
    new Promise<O>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}
