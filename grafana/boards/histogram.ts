/**
 * Quantiles from the value histograms of quality_bins_1h (clickhouse/migrations/0006), computed as
 * ClickHouse's `quantiles` does on raw values (linear interpolation between the samples around rank
 * level × (n − 1)), each sample read as its bin's value. For values of one sign the result is within
 * 1.1 % (relative) of the exact quantile of the raw values; 0006 gives the proof.
 *
 * quantileExactWeighted(value_bin, samples) would be shorter, but it picks the sample at the nearest rank
 * without interpolating, which is far from `quantiles` on small groups (p99 of two samples is the larger).
 * ClickHouse 18.16 has no interpolating weighted quantile, so the interpolation is written out on arrays.
 */

/**
 * The SELECT of one histogram per group: the group's columns (`keys`: alias → expression over
 * quality_bins columns), bin_values (ascending), bin_ranks (running counts), samples (the count) and
 * value_sum (the exact sum), from the quality_bins rows that `from` selects (a `FROM … WHERE …` clause).
 * Bins of one value may still be unmerged rows of the SummingMergeTree: the inner GROUP BY adds them up.
 */
export function histogramSql(keys: Readonly<Record<string, string>>, from: string): string {
  const aliases = Object.keys(keys).join(", ");
  const columns = Object.entries(keys)
    .map(([alias, expr]) => (alias === expr ? alias : `${expr} AS ${alias}`))
    .join(", ");
  return `SELECT ${aliases}, arraySort(groupArray((value_bin, n))) AS histogram,
        arrayMap(b -> b.1, histogram) AS bin_values, arrayCumSum(arrayMap(b -> b.2, histogram)) AS bin_ranks,
        bin_ranks[-1] AS samples, sum(bin_sum) AS value_sum
    FROM (SELECT ${columns}, value_bin, sum(samples) AS n, sum(value_sum) AS bin_sum ${from}
        GROUP BY ${aliases}, value_bin)
    GROUP BY ${aliases}`;
}

/** The level-quantile of a row of `histogramSql` (a query over it reads bin_values, bin_ranks and samples). */
export function histogramQuantile(level: number): string {
  if (!(level >= 0 && level <= 1)) throw new RangeError(`quantile level ${level} is not within [0, 1]`);
  const pos = `${level} * (samples - 1)`;
  const lower = `toUInt64(floor(${pos}))`;
  // The sample of 0-based rank k is the value of the first bin whose running count exceeds k.
  const at = (rank: string) => `bin_values[arrayFirstIndex(r -> r > ${rank}, bin_ranks)]`;
  const upper = `if(${lower} + 1 < samples, ${lower} + 1, ${lower})`;
  return `(${at(lower)} + (${pos} - floor(${pos})) * (${at(upper)} - ${at(lower)}))`;
}
