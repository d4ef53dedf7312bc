import type { MsgHdrs } from "@nats-io/transport-node";
import {
  type MetricsBatch,
  SCHEMA_FINGERPRINT_HEADER,
  SchemaError,
  type SchemaRegistry,
} from "../../../schemas/index.ts";
import { deadLetter, ok, type StepResult } from "../../runtime/result.ts";

/** Decodes a message's Avro bytes with the writer schema its header names, into the latest version. */
export function decode(
  registry: SchemaRegistry,
  data: Uint8Array,
  headers: Pick<MsgHdrs, "get"> | undefined,
): StepResult<MetricsBatch> {
  const fingerprint = headers?.get(SCHEMA_FINGERPRINT_HEADER) ?? "";
  if (!fingerprint) return deadLetter("missing_schema_header", `no ${SCHEMA_FINGERPRINT_HEADER} header`);
  try {
    return ok(registry.decode<MetricsBatch>(data, fingerprint).value);
  } catch (err) {
    if (err instanceof SchemaError) {
      return deadLetter(err.code === "SCHEMA_UNKNOWN" ? "unknown_schema" : "undecodable", err.message);
    }
    throw err;
  }
}
