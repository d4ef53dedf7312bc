export {
  clickHouseExportQuery,
  EXPORT_FORMAT_VERSION,
  type ExportDeps,
  instanceExport,
} from "./export-stream.ts";
