export { alreadyInserted, type RowOrigin } from "./already-inserted.ts";
export { type ArrowEncoder, arrowColumnType, arrowEncoder, type ColumnSpec } from "./arrow-encoder.ts";
export { detectInsertFormat, type TableSink, tableColumns, tableSink } from "./table-sink.ts";
