/** The quantile ClickHouse's `quantiles` computes below 8192 values: linear interpolation between ranks. */
export function quantile(values: readonly number[], level: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = level * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return (s[lo] as number) + (pos - lo) * ((s[hi] as number) - (s[lo] as number));
}
