export {
  DLQ_HEADERS,
  deadLetterStreamConfig,
  deadLetterStreamName,
  deadLetterSubject,
} from "./dead-letter-stream.ts";
export { PIPELINE_HEADERS } from "./headers.ts";
export {
  batchSubject,
  processorConsumerConfig,
  reconcileTelemetryStream,
  telemetryStreamConfig,
} from "./telemetry-stream.ts";
