import { createHash } from "node:crypto";
import { HttpErrors, unstorableText } from "../../../../lib/http/index.ts";
import { type MetricsBatch, SchemaError, type SchemaRegistry } from "../../../../schemas/index.ts";
import { envelopeProblem } from "./check-items.ts";
import { fromJson, type JsonBatchBody, type RejectedItem } from "./from-json.ts";

/** A request body read as a batch: the record, the items already dropped, and the Avro bytes sent. */
export interface ParsedBatch {
  batch: MetricsBatch;
  /** JSON items that failed their schema (an Avro body's items are checked by acceptBatch). */
  rejected: RejectedItem[];
  /** An Avro body as sent, publishable as it is when the checks change nothing. */
  original?: { bytes: Buffer; fingerprint: string };
}

/** What parsing an Avro body needs: the registry and the writer schema's name it must carry. */
export interface AvroParsing {
  registry: SchemaRegistry;
  /** Name of the batch record (a writer schema of another record is refused). */
  recordName: string;
}

/**
 * Reads a body (a parsed JSON envelope, or the Avro bytes with their writer fingerprint) as a batch.
 * A body unreadable as a whole throws its HTTP error (SCHEMA_UNKNOWN, MALFORMED_BODY, INVALID_CHARACTER,
 * INVALID_BODY); a JSON item that fails its schema is left out and reported. No I/O.
 */
export function parseBatch(
  body: unknown,
  fingerprint: string,
  avro: AvroParsing,
  receivedAt: number,
): ParsedBatch {
  if (!Buffer.isBuffer(body)) return fromJson(body as JsonBatchBody, receivedAt);
  const writer = fingerprint ? avro.registry.find(fingerprint) : undefined;
  if (!writer || writer.name !== avro.recordName)
    throw new HttpErrors.SCHEMA_UNKNOWN(fingerprint || "(none)");
  let batch: MetricsBatch;
  let nulInText: boolean;
  try {
    ({ value: batch, nulInText } = avro.registry.decode<MetricsBatch>(body, fingerprint));
  } catch (err) {
    if (err instanceof SchemaError) throw new HttpErrors.MALFORMED_BODY(`Avro: ${err.message}`);
    throw err;
  }
  // The JSON body's rules, met by the Avro one: no text PostgreSQL or the JSON path would refuse,
  // and an envelope within its rules (schemas/item-rules.ts); items are checked with the JSON ones.
  // Decoded UTF-8 holds no lone surrogate, so only a NUL the decoder's byte walk saw needs the value
  // walked again, to name where it is.
  const bad = nulInText ? unstorableText(batch) : undefined;
  if (bad) throw new HttpErrors.INVALID_CHARACTER(bad);
  const problem = envelopeProblem(batch);
  if (problem) throw new HttpErrors.INVALID_BODY(problem);
  // The rules allow an empty batch_id in Avro: the batch is then named by its digest, and the bytes
  // sent no longer match the record published.
  if (batch.batch_id === "") {
    batch.batch_id = createHash("sha256").update(body).digest("base64url").slice(0, 32);
    return { batch, rejected: [] };
  }
  return { batch, rejected: [], original: { bytes: body, fingerprint } };
}
