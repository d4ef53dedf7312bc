/**
 * A memo of at most `max` entries that starts over when full: for answers that repeat (names, ids) where
 * the keys come from clients, so made-up keys cannot grow it and a cleared memo only costs recomputing.
 */
export function boundedMemo<V>(max: number): (key: string, compute: (key: string) => V) => V {
  const memo = new Map<string, V>();
  return (key, compute) => {
    let value = memo.get(key);
    if (value === undefined) {
      if (memo.size >= max) memo.clear();
      value = compute(key);
      memo.set(key, value);
    }
    return value;
  };
}
