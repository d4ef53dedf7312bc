export { alreadyInserted, type RowOrigin } from "./already-inserted.ts";
export { type ArrowEncoder, arrowColumnType, arrowEncoder, type ColumnSpec } from "./arrow-encoder.ts";
export {
  type BatchKey,
  batchKey,
  INSERTED_BATCHES_DAYS,
  INSERTED_BATCHES_TABLE,
  recordBatches,
  storedBatches,
} from "./inserted-batches.ts";
export { type MetricsJson, metricsJsonEachRow } from "./json-each-row-encoder.ts";
export {
  openRawTablesSink,
  type RawTablesSink,
  type RawTablesSinkDeps,
  type SinkBatch,
} from "./raw-tables-sink.ts";
export { insertRefusal, type Refusal, refusalDetail } from "./refusal.ts";
export { detectInsertFormat, type TableSink, tableColumns, tableSink } from "./table-sink.ts";
