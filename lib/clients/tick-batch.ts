/** A call waiting in a batcher for its batch's answer. */
interface Waiting<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/** Runs one batch and answers its calls item by item, or all with the error `run` threw. */
function answer<I, O>(run: (items: I[]) => Promise<O[]>, batch: Waiting<I, O>[]): Promise<void> {
  return run(batch.map((p) => p.item)).then(
    (out) => {
      for (let i = 0; i < batch.length; i++) (batch[i] as Waiting<I, O>).resolve(out[i] as O);
    },
    (err) => {
      for (const p of batch) p.reject(err);
    },
  );
}

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
  const pending: Waiting<I, O>[] = [];
  const flush = () => {
    const batch = pending.splice(0, max);
    if (pending.length > 0) setImmediate(flush);
    void answer(run, batch);
  };
  return (item) =>
    new Promise<O>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}

/** A batcher whose calls wait up to a time for others to share their round trip. */
export interface TimedBatcher<I, O> {
  (item: I): Promise<O>;
  /** Sends what is waiting now and resolves once every call made so far has been answered. */
  flush(): Promise<void>;
}

/**
 * Gathers the calls made within `waitMs` of the first waiting one into one call of `run` (at most `max`
 * items each; a full batch goes at once), for bookkeeping nobody waits on: with requests arriving one at
 * a time, a per-turn batcher makes one round trip per request, this one about one per `waitMs`. Batches
 * go out in call order on whatever connection `run` uses. `flush` before closing that connection.
 */
export function createTimedBatcher<I, O>(
  run: (items: I[]) => Promise<O[]>,
  waitMs: number,
  max = 256,
): TimedBatcher<I, O> {
  const pending: Waiting<I, O>[] = [];
  const running = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    while (pending.length > 0) {
      const done = answer(run, pending.splice(0, max));
      running.add(done);
      void done.finally(() => running.delete(done));
    }
  };
  const add = (item: I) =>
    new Promise<O>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (pending.length >= max) send();
      else if (!timer) timer = setTimeout(send, waitMs);
    });
  return Object.assign(add, {
    async flush() {
      send();
      await Promise.all(running);
    },
  });
}
