export { PIPELINE_HEADERS } from "./headers.ts";
export {
  batchSubject,
  processorConsumerConfig,
  reconcileTelemetryStream,
  telemetryStreamConfig,
} from "./telemetry-stream.ts";
