export {
  batchSubject,
  processorConsumerConfig,
  reconcileTelemetryStream,
  telemetryStreamConfig,
} from "./telemetry-stream.ts";
