import type { Registry } from "prom-client";
import type { ClickHouseExecutor, InsertFormat } from "../../../lib/clients/index.ts";
import type { Logger } from "../../../lib/log/index.ts";
import { type ComponentMetrics, componentMetrics, durationHistogram } from "../../../lib/metrics/index.ts";
import type { Buffered, InsertOptions, RefusalOf } from "../../runtime/pull-loop.ts";
import { type MetricRowWriter, RAW_TABLES, type RawTable, type Routed } from "../../steps/route/index.ts";
import { alreadyInserted, type RowOrigin } from "./already-inserted.ts";
import { batchKey, recordBatches, storedBatches } from "./inserted-batches.ts";
import { type MetricsJson, metricsJsonEachRow } from "./json-each-row-encoder.ts";
import { insertRefusal, refusalDetail } from "./refusal.ts";
import { detectInsertFormat, type TableSink, tableSink } from "./table-sink.ts";
import { DEFAULT_UNKNOWN_STATUS_RETRY, type UnknownStatusRetry } from "./unknown-status.ts";

/** One message's rows as the raw-tables sink buffers them (metric rows as JSONEachRow text on 18.16). */
export type SinkBatch = Routed<MetricsJson>;

/** Everything the sink needs: the server, its format setting, the log and the metrics registry. */
export interface RawTablesSinkDeps {
  clickhouse: ClickHouseExecutor;
  /** `auto` asks the server (ArrowStream where it reads it, else JSONEachRow). */
  insertFormat: "auto" | InsertFormat;
  log: Logger;
  metrics: Registry;
  /**
   * The tables other than metrics_quality are inserted once their rows, over the messages held for them,
   * reach this many (or `holdBytes`), or when the loop asks for a complete insert; until then those
   * messages are stored in part and held (see `insert`). 0 inserts every table at every flush.
   */
  holdRows: number;
  holdBytes: number;
}

/** The ClickHouse sink of the raw tables: it chooses its encoding, buffers' sizes, de-duplicates and inserts. */
export interface RawTablesSink {
  /** The insert format chosen at start. */
  readonly format: InsertFormat;
  /** The metric row writer the route step uses (JSONEachRow text), or undefined for row objects. */
  readonly writeMetrics: MetricRowWriter<MetricsJson> | undefined;
  /** Rows a message adds to the buffer. */
  rowCount(batch: SinkBatch): number;
  /** Bytes a message adds to the buffer once encoded (estimate). */
  byteCount(batch: SinkBatch): number;
  /**
   * Inserts the rows of every buffered message not stored before, one insert per table, and records the
   * batches it stored whole. metrics_quality is inserted at every flush; the other tables' rows are held
   * back until they are enough for inserts of their own (`holdRows`) unless `complete`. Returns the
   * positions of the messages stored in part.
   */
  insert(buffered: Buffered<SinkBatch>[], opts: InsertOptions): Promise<number[]>;
  /** The dead-letter detail when ClickHouse refused an insert for its data. */
  refusal: RefusalOf;
  /** The sink's component counters (rows). */
  readonly counts: ComponentMetrics;
}

/** Bytes a row object takes once encoded, on average (JSONEachRow text or its Arrow columns). */
const ROW_OBJECT_BYTES = 400;

const objectRows = (r: SinkBatch) => RAW_TABLES.reduce((n, t) => n + r.rows[t].length, 0);
/** The tables whose rows may wait for a later flush: every raw table but metrics_quality. */
const HELD_TABLES = RAW_TABLES.filter((t) => t !== "metrics_quality");
const heldRows = (r: SinkBatch) => HELD_TABLES.reduce((n, t) => n + r.rows[t].length, 0);
const rowCount = (r: SinkBatch) => objectRows(r) + (r.metrics?.count ?? 0);
const byteCount = (r: SinkBatch) => objectRows(r) * ROW_OBJECT_BYTES + (r.metrics?.body.length ?? 0);

type Tables = Record<RawTable, TableSink<Record<string, unknown>>>;

/**
 * The insert format and one table sink per raw table, both read from the server (formats, columns). A
 * server away at start is waited for, with backoff, before any message is fetched.
 */
async function openTables(
  deps: RawTablesSinkDeps,
  unknownStatus: (table: RawTable) => UnknownStatusRetry,
): Promise<{ format: InsertFormat; tables: Tables }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const format =
        deps.insertFormat === "auto" ? await detectInsertFormat(deps.clickhouse) : deps.insertFormat;
      const entries = await Promise.all(
        RAW_TABLES.map(
          async (t) => [t, await tableSink(deps.clickhouse, t, format, unknownStatus(t))] as const,
        ),
      );
      return { format, tables: Object.fromEntries(entries) as Tables };
    } catch (err) {
      deps.log.warn({ err, attempt }, "ClickHouse not ready; processor waits before consuming");
      await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
    }
  }
}

/**
 * Exactly once, whatever NATS does: every message's (instance_id, batch_id) is looked up in the record
 * of stored batches, so a first delivery after a NATS crash, a redelivery and a client retry that NATS
 * no longer recognises are all skipped (and then acknowledged). A batch twice in one buffer goes once.
 * `inserting` holds the batches a worker of this process is inserting right now: their lookup waits
 * for that insert, so it sees its record.
 */
async function unstored(
  deps: RawTablesSinkDeps,
  counts: ComponentMetrics,
  buffered: Buffered<SinkBatch>[],
  /** Batches a worker of this process holds stored in part: another copy of one is skipped. */
  held: ReadonlySet<string>,
): Promise<Buffered<SinkBatch>[]> {
  const stored = await storedBatches(
    deps.clickhouse,
    buffered.map((b) => b.value.key),
  );
  const seen = new Set<string>();
  const fresh: Buffered<SinkBatch>[] = [];
  let skippedRows = 0;
  for (const b of buffered) {
    const k = batchKey(b.value.key);
    if (stored.has(k) || seen.has(k) || (!b.held && held.has(k))) {
      skippedRows += rowCount(b.value);
      continue;
    }
    seen.add(k);
    fresh.push(b);
  }
  if (skippedRows) {
    counts.dropped("already_inserted", skippedRows);
    deps.log.debug(
      { batches: buffered.length - fresh.length, rows: skippedRows },
      "batches stored before; skipped and acknowledged",
    );
  }
  return fresh;
}

/**
 * Opens the sink of the raw tables: resolves the insert format (and with it the metric row writer),
 * and inserts buffers with one insert per table, timed in `smstats_clickhouse_insert_seconds{table}`
 * and counted as `clickhouse_sink` rows.
 */
export async function openRawTablesSink(deps: RawTablesSinkDeps): Promise<RawTablesSink> {
  const counts = componentMetrics(deps.metrics, "clickhouse_sink", "rows");
  const insertSeconds = durationHistogram(
    deps.metrics,
    "smstats_clickhouse_insert_seconds",
    "ClickHouse insert duration, per table and flush.",
    ["table"],
  );
  // ClickHouse could not tell whether an insert happened (code 319, cluster mode): the identical insert
  // is repeated (unknown-status.ts), each repeat counted as a sink error and logged.
  const { format, tables } = await openTables(deps, (table) => ({
    ...DEFAULT_UNKNOWN_STATUS_RETRY,
    onRetry: (attempt, err) => {
      counts.error("insert_unknown_status");
      deps.log.warn(
        { table, attempt, err },
        "insert status unknown (ZooKeeper); repeating the identical insert",
      );
    },
  }));
  deps.log.info({ format }, "ClickHouse insert format");

  /**
   * Batch ids of redelivered messages a table already holds: a flush that failed in some tables and not
   * others, or a processor that died between the tables' inserts and the record of stored batches.
   */
  const alreadyThere = async (table: RawTable, again: RowOrigin[]) => {
    if (!again.length) return new Set<string>();
    const present = await alreadyInserted(deps.clickhouse, table, again);
    if (present.size)
      deps.log.debug({ table, batches: present.size }, "redelivered batches already in the table; skipped");
    return present;
  };
  const timed = async (table: RawTable, rows: number, write: () => Promise<void>) => {
    if (!rows) return;
    const started = performance.now();
    await write();
    insertSeconds.observe({ table }, (performance.now() - started) / 1000);
    counts.sent(rows);
  };
  // Metric rows written as JSONEachRow text by the route step (18.16): merged as text.
  const insertMetricsText = async (buffered: Buffered<SinkBatch>[]) => {
    const again: RowOrigin[] = [];
    for (const b of buffered) {
      const j = b.value.metrics;
      if (b.redelivered && j?.count) again.push({ ...j, time: j.minTime }, { ...j, time: j.maxTime });
    }
    const present = await alreadyThere("metrics_quality", again);
    const bodies: Buffer[] = [];
    let count = 0;
    for (const b of buffered) {
      const j = b.value.metrics;
      if (!j?.count) continue;
      if (b.redelivered && present.has(j.batch_id)) {
        counts.dropped("already_inserted", j.count);
        continue;
      }
      bodies.push(j.body);
      count += j.count;
    }
    await timed("metrics_quality", count, () => tables.metrics_quality.insertText(bodies));
  };
  // Row objects of one table, merged over the buffer.
  const insertRows = async (table: RawTable, buffered: Buffered<SinkBatch>[]) => {
    let rows: Record<string, unknown>[] = [];
    const again: RowOrigin[] = [];
    for (const b of buffered) {
      const r = b.value.rows[table];
      if (!r.length) continue;
      for (const row of r) rows.push(row);
      if (b.redelivered) for (const row of r) again.push(row as unknown as RowOrigin);
    }
    const present = await alreadyThere(table, again);
    if (present.size) {
      const before = rows.length;
      rows = rows.filter((row) => !present.has(row.batch_id as string));
      counts.dropped("already_inserted", before - rows.length);
    }
    await timed(table, rows.length, () => tables[table].insert(rows));
  };
  /**
   * metrics_quality takes most rows and is inserted at every flush. Each insert writes a part per
   * partition into the table and into each of its materialized views, and on 18.16 a part costs about
   * the same whatever its size (bench:processors: the four other tables, with a fifth of the rows, took
   * as long to insert as metrics_quality when inserted at every flush). So their rows wait, held with
   * their messages, until there are enough for an insert of flush size, or the loop asks for a complete
   * insert (the held messages are due, it stops, a refused insert is retried in halves).
   * Returns the messages stored in part.
   */
  const insertFresh = async (
    buffered: Buffered<SinkBatch>[],
    complete: boolean,
  ): Promise<Set<Buffered<SinkBatch>>> => {
    // Held messages' metrics_quality rows are stored already.
    const fresh = buffered.filter((b) => !b.held);
    let rows = 0;
    for (const b of buffered) rows += heldRows(b.value);
    const all =
      complete || deps.holdRows <= 0 || rows >= deps.holdRows || rows * ROW_OBJECT_BYTES >= deps.holdBytes;
    const now = all ? buffered : [];
    // All tables at once; if one fails the whole buffer is redelivered, and the tables that had it skip
    // it then (alreadyThere).
    await Promise.all([
      insertMetricsText(fresh),
      insertRows("metrics_quality", fresh),
      ...HELD_TABLES.map((t) => insertRows(t, now)),
    ]);
    const kept = new Set(all ? [] : buffered.filter((b) => heldRows(b.value) > 0));
    // Only once every table holds the rows: a crash before this leaves the batch to the per-table check.
    await recordBatches(
      deps.clickhouse,
      buffered.filter((b) => !kept.has(b)).map((b) => b.value.key),
    );
    return kept;
  };

  const inserting = new Map<string, Promise<void>>();
  // Batches stored in part and held by a worker until its next flush: not in the record of stored
  // batches yet, so another copy (a second delivery to the other worker) is recognised here.
  const heldKeys = new Set<string>();
  return {
    format,
    writeMetrics: format === "JSONEachRow" ? metricsJsonEachRow : undefined,
    rowCount,
    byteCount,
    counts,
    refusal: (err) => {
      const r = insertRefusal(err);
      return r && refusalDetail(r);
    },
    async insert(all, { complete }) {
      // Wait until no other worker of this process holds one of these batches, then claim them all
      // before anything else is awaited: a lookup and an insert of the same batch by two workers (two
      // copies in the stream after a NATS crash) can then never overlap, so the second sees the record.
      for (;;) {
        const busy = all.flatMap((b) => inserting.get(batchKey(b.value.key)) ?? []);
        if (!busy.length) break;
        await Promise.allSettled(busy);
      }
      let done = () => {};
      const finished = new Promise<void>((r) => {
        done = r;
      });
      const keys = [...new Set(all.map((b) => batchKey(b.value.key)))];
      for (const k of keys) inserting.set(k, finished);
      try {
        // Given back: this call stores them, or holds them again, or fails and the loop naks them.
        for (const b of all) if (b.held) heldKeys.delete(batchKey(b.value.key));
        const buffered = await unstored(deps, counts, all, heldKeys);
        if (!buffered.length) return [];
        const kept = await insertFresh(buffered, complete);
        for (const b of kept) heldKeys.add(batchKey(b.value.key));
        return kept.size ? all.flatMap((b, i) => (kept.has(b) ? [i] : [])) : [];
      } finally {
        for (const k of keys) if (inserting.get(k) === finished) inserting.delete(k);
        done();
      }
    },
  };
}
