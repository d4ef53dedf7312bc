export * from "./erasure/index.ts";
export * from "./export/index.ts";
export {
  type ClickHouseInstanceTable,
  clickHouseInstanceTables,
  type PostgresInstanceTable,
  postgresInstanceTables,
} from "./instance-tables.ts";
