import { createHash } from "node:crypto";
import { Ajv } from "ajv";
import type { FastifyInstance, FastifyReply } from "fastify";
import { Counter, Histogram, type Registry } from "prom-client";
import { HttpErrors, unstorableText, validationError } from "../../../../lib/http/index.ts";
import { componentMetrics } from "../../../../lib/metrics/index.ts";
import { dateTimeFormat } from "../../../../lib/time/index.ts";
import {
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  SCHEMA_FINGERPRINT_HEADER,
  SchemaError,
  type SchemaRegistry,
} from "../../../../schemas/index.ts";
import { AVRO_CONTENT_TYPE } from "../../../plugins/body-parsers.ts";
import type { BatchPublisher, Publishable } from "../../../publish/batch-publisher.ts";
import type { SequenceTracker } from "../../../sequence/sequence-tracker.ts";
import {
  batchResponseSchemas,
  documentedBodySchema,
  envelopeSchema,
  type FamilyField,
} from "./batch-schema.ts";
import { checkItems, envelopeProblem, type TimeRules } from "./check-items.ts";
import { fromJson, type JsonBatchBody, type RejectedItem } from "./from-json.ts";

/** Options of the batch route. */
export interface BatchRouteOptions {
  publisher: BatchPublisher;
  registry: SchemaRegistry;
  sequences: SequenceTracker;
  metrics: Registry;
  maxItems: number;
  time: Omit<TimeRules, "receivedAt">;
}

/** Response header carrying how many items had their future time clamped (absent when none). */
export const CLAMPED_HEADER = "sm-clamped-items";
/** HTTP header naming the writer schema of an Avro body: the same name the NATS message carries it under. */
export const FINGERPRINT_HEADER = SCHEMA_FINGERPRINT_HEADER.toLowerCase();

function routeMetrics(registry: Registry) {
  return {
    batches: componentMetrics(registry, "http_batch_source", "batches"),
    items: new Counter({
      name: "smstats_ingest_items_total",
      help: "Telemetry items by family and outcome (accepted, rejected, no_consent, duplicate).",
      labelNames: ["family", "outcome"],
      registers: [registry],
    }),
    clamped: new Counter({
      name: "smstats_ingest_items_clamped_total",
      help: "Items whose future time was clamped to the receive time.",
      registers: [registry],
    }),
    skew: new Histogram({
      name: "smstats_ingest_clock_skew_seconds",
      help: "Receive time minus the instance's sent_at (positive: the instance's clock is behind, or the batch waited).",
      buckets: [-3600, -300, -60, -10, -1, 0, 1, 10, 60, 300, 3600, 86_400, 604_800],
      registers: [registry],
    }),
    seq: new Counter({
      name: "smstats_ingest_sequence_total",
      help: "Batches by what their seq meant: first, next, gap, late (fills a gap), repeat, untracked.",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    missing: new Counter({
      name: "smstats_ingest_sequence_missing_total",
      help: "Sequence numbers skipped over when a gap opened (late ones are counted as late).",
      registers: [registry],
    }),
  };
}

function countItems(batch: MetricsBatch): Record<FamilyField, number> {
  return {
    metrics: batch.metrics.length,
    library: batch.library.length,
    playback: batch.playback.length,
    session: batch.session.length,
    environment: batch.environment ? 1 : 0,
  };
}

/**
 * POST /v1/stats/batch. JSON (the seed's body, extended) or Avro; gzip/zstd; authenticated per instance.
 * Partial-batch policy: a malformed envelope rejects the batch (400); invalid items are dropped and
 * reported with family, index and reason, and the rest is stored (202). A batch with no valid item is a 400.
 */
export async function batchRoute(app: FastifyInstance, opts: BatchRouteOptions) {
  const m = routeMetrics(opts.metrics);
  const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false });
  ajv.addFormat("date-time", dateTimeFormat);
  const envelope = ajv.compile(envelopeSchema({ maxItems: opts.maxItems }));
  const latest = opts.registry.latest(METRICS_BATCH_SCHEMA);

  const invalid = (reply: FastifyReply, message: string, rejected: RejectedItem[]) => {
    for (const r of rejected) m.items.inc({ family: r.family, outcome: "rejected" });
    m.batches.dropped("invalid");
    return reply.code(400).send({ error: { code: "INVALID_BODY", message }, rejected });
  };

  app.post(
    "/v1/stats/batch",
    {
      config: { auth: "instance" },
      schema: {
        summary: "Submit a telemetry batch",
        description:
          "JSON (application/json) or Avro (" +
          AVRO_CONTENT_TYPE +
          ", writer schema fingerprint in Sm-Schema-Fingerprint), optionally gzip or zstd (Content-Encoding). " +
          "Requires Authorization: Bearer <instance token>, X-SM-Timestamp and X-SM-Signature. " +
          "The envelope is checked as a whole (400 INVALID_BODY, or UNKNOWN_FIELD for a field it does not " +
          "name); items one by one against the same rules as the Avro body's (schemas/item-rules.ts): an " +
          "invalid item, or one older than the accepted age, is dropped and listed in `rejected`, and a batch " +
          "left with no item is a 400. Times beyond the future tolerance are clamped to the receive time and " +
          "counted in `clamped` and the Sm-Clamped-Items response header. Ranges of times: each time field's " +
          "description.",
        tags: ["telemetry"],
        body: documentedBodySchema({ maxItems: opts.maxItems }),
        response: batchResponseSchemas,
      },
      // The documented schema shows whole items; validation here covers the envelope only (items are
      // checked one by one in the handler), and Avro bodies are checked by decoding.
      validatorCompiler: () => (data: unknown) =>
        Buffer.isBuffer(data) || envelope(data)
          ? { value: data }
          : { error: validationError(envelope.errors ?? [], "body") },
    },
    async (request, reply) => {
      const receivedAt = Date.now();
      const identity = request.instance;
      if (!identity) throw new HttpErrors.INTERNAL();
      m.batches.received();

      let batch: MetricsBatch;
      let rejected: RejectedItem[] = [];
      let original: { bytes: Buffer; fingerprint: string } | undefined;
      if (Buffer.isBuffer(request.body)) {
        const fingerprint = String(request.headers[FINGERPRINT_HEADER] ?? "");
        const writer = fingerprint ? opts.registry.find(fingerprint) : undefined;
        if (!writer || writer.name !== latest.name)
          throw new HttpErrors.SCHEMA_UNKNOWN(fingerprint || "(none)");
        try {
          batch = opts.registry.decode<MetricsBatch>(request.body, fingerprint).value;
        } catch (err) {
          if (err instanceof SchemaError) throw new HttpErrors.MALFORMED_BODY(`Avro: ${err.message}`);
          throw err;
        }
        original = { bytes: request.body, fingerprint };
        // The JSON body's rules, met by the Avro one: no text PostgreSQL or the JSON path would refuse,
        // and an envelope within its rules (schemas/item-rules.ts); items are checked with the JSON ones.
        const bad = unstorableText(batch);
        if (bad) throw new HttpErrors.INVALID_CHARACTER(bad);
        const problem = envelopeProblem(batch);
        if (problem) throw new HttpErrors.INVALID_BODY(problem);
        // The rules allow an empty batch_id in Avro: the batch is then named by its digest.
        if (batch.batch_id === "") {
          batch.batch_id = createHash("sha256").update(request.body).digest("base64url").slice(0, 32);
          original = undefined;
        }
      } else {
        ({ batch, rejected } = fromJson(request.body as JsonBatchBody, receivedAt));
      }
      if (batch.instance_id !== identity.instanceId) throw new HttpErrors.INSTANCE_MISMATCH();

      const checked = checkItems(batch, identity.consent, { ...opts.time, receivedAt });
      rejected = rejected.concat(checked.rejected);
      for (const [family, n] of Object.entries(checked.filtered)) {
        m.items.inc({ family, outcome: "no_consent" }, n);
      }
      if (checked.items === 0) {
        if (rejected.length > 0 || Object.keys(checked.filtered).length === 0) {
          return invalid(
            reply,
            rejected.length ? "no valid item in the batch" : "the batch carries no items",
            rejected,
          );
        }
        // Everything was filtered for lack of consent: nothing to store, nothing wrong with the request.
        m.batches.dropped("no_consent");
        return reply.code(202).send({
          accepted: 0,
          batch_id: batch.batch_id,
          duplicate: false,
          rejected,
          filtered: checked.filtered,
          clamped: 0,
        });
      }
      for (const r of rejected) m.items.inc({ family: r.family, outcome: "rejected" });
      if (checked.clamped) {
        m.clamped.inc(checked.clamped);
        reply.header(CLAMPED_HEADER, String(checked.clamped));
      }
      const clockSkewMs = batch.sent_at_ms > 0 ? receivedAt - batch.sent_at_ms : 0;
      if (batch.sent_at_ms > 0) m.skew.observe(clockSkewMs / 1000);

      const input: Publishable =
        original && !checked.changed
          ? {
              kind: "encoded",
              bytes: original.bytes,
              fingerprint: original.fingerprint,
              instanceId: batch.instance_id,
              batchId: batch.batch_id,
            }
          : { kind: "record", batch: { ...checked.batch, received_at_ms: receivedAt } };
      let result: Awaited<ReturnType<BatchPublisher["publish"]>>;
      try {
        result = await opts.publisher.publish(input, {
          receivedAt,
          clientIp: request.ip,
          clockSkewMs,
          clamped: checked.clamped,
        });
      } catch (err) {
        // Not stored: the client keeps the batch and retries after Retry-After.
        m.batches.error((err as { code?: string }).code ?? "publish");
        throw err;
      }
      const counts = countItems(checked.batch);
      for (const [family, n] of Object.entries(counts)) {
        if (n) m.items.inc({ family, outcome: result.duplicate ? "duplicate" : "accepted" }, n);
      }
      if (result.duplicate) m.batches.dropped("duplicate");
      else m.batches.sent();
      const seq = await opts.sequences.record(batch.instance_id, batch.seq).catch(() => undefined);
      if (seq) {
        m.seq.inc({ outcome: seq.outcome });
        if (seq.missing) m.missing.inc(seq.missing);
      }
      return reply.code(202).send({
        accepted: result.duplicate ? 0 : checked.items,
        batch_id: batch.batch_id,
        duplicate: result.duplicate,
        rejected,
        filtered: checked.filtered,
        clamped: checked.clamped,
      });
    },
  );
}
