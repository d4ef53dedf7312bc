import { Ajv } from "ajv";
import type { FastifyInstance } from "fastify";
import { Counter, Histogram, type Registry } from "prom-client";
import { HttpErrors, validationError } from "../../../../lib/http/index.ts";
import { componentMetrics } from "../../../../lib/metrics/index.ts";
import { dateTimeFormat } from "../../../../lib/time/index.ts";
import {
  METRICS_BATCH_SCHEMA,
  SCHEMA_FINGERPRINT_HEADER,
  type SchemaRegistry,
} from "../../../../schemas/index.ts";
import { AVRO_CONTENT_TYPE } from "../../../plugins/body-parsers.ts";
import type { BatchPublisher } from "../../../publish/batch-publisher.ts";
import type { SequenceTracker } from "../../../sequence/sequence-tracker.ts";
import { acceptBatch, type BatchDecision } from "./accept-batch.ts";
import { batchResponseSchemas, documentedBodySchema, envelopeSchema } from "./batch-schema.ts";
import type { TimeRules } from "./check-items.ts";
import { capErrorReports, type ErrorReportCounter, errorReportsIn } from "./error-reports.ts";
import { parseBatch } from "./parse-batch.ts";

/** Options of the batch route. */
export interface BatchRouteOptions {
  publisher: BatchPublisher;
  registry: SchemaRegistry;
  sequences: SequenceTracker;
  metrics: Registry;
  maxItems: number;
  time: Omit<TimeRules, "receivedAt">;
  /** The design's MaxErrorReportsPerHour: absent, error reports are not limited. */
  errorReports?: ErrorReportCounter;
  /** Told how long each publish waited for JetStream's acknowledgement, seconds. */
  acked?: (seconds: number) => void;
  /** Called with the number of error reports dropped over the limit (an abuse rule's counter). */
  onErrorReportsDropped?: (n: number) => void;
}

/** Response header: error reports dropped from this batch over the instance's hourly limit (absent when none). */
export const DROPPED_ERROR_REPORTS_HEADER = "sm-dropped-error-reports";

/** Response header carrying how many items had their future time clamped (absent when none). */
export const CLAMPED_HEADER = "sm-clamped-items";
/** HTTP header naming the writer schema of an Avro body: the same name the NATS message carries it under. */
export const FINGERPRINT_HEADER = SCHEMA_FINGERPRINT_HEADER.toLowerCase();

function routeMetrics(registry: Registry) {
  return {
    batches: componentMetrics(registry, "http_batch_source", "batches"),
    items: new Counter({
      name: "smstats_ingest_items_total",
      help: "Telemetry items by family and outcome (accepted, rejected, no_consent, duplicate, error_reports_limit, error_reports_unchecked).",
      labelNames: ["family", "outcome"],
      registers: [registry],
    }),
    metricsNoConsent: new Counter({
      name: "smstats_ingest_metrics_no_consent_total",
      help: "Metrics dropped for lack of consent, by the family their name files them under (schemas/metric-families.ts).",
      labelNames: ["consent_family"],
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
    seqErrors: new Counter({
      name: "smstats_ingest_sequence_errors_total",
      help: "Stored batches whose sequence number could not be recorded (the tracker's Redis failed).",
      registers: [registry],
    }),
    missing: new Counter({
      name: "smstats_ingest_sequence_missing_total",
      help: "Sequence numbers skipped over when a gap opened (late ones are counted as late).",
      registers: [registry],
    }),
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

  const avro = { registry: opts.registry, recordName: latest.name };

  // Publishes an accepted batch and counts its items by outcome; a failure is counted and thrown (not
  // stored: the client keeps the batch and retries after Retry-After).
  const publish = async (
    decision: Extract<BatchDecision, { kind: "publish" }>,
    ip: string,
    receivedAt: number,
  ) => {
    if (decision.clamped) m.clamped.inc(decision.clamped);
    if (decision.clockSkewMs !== undefined) m.skew.observe(decision.clockSkewMs / 1000);
    let result: Awaited<ReturnType<BatchPublisher["publish"]>>;
    const asked = performance.now();
    try {
      result = await opts.publisher.publish(decision.input, {
        receivedAt,
        clientIp: ip,
        clockSkewMs: decision.clockSkewMs ?? 0,
        clamped: decision.clamped,
      });
      opts.acked?.((performance.now() - asked) / 1000);
    } catch (err) {
      m.batches.error((err as { code?: string }).code ?? "publish");
      throw err;
    }
    for (const [family, n] of Object.entries(decision.counts)) {
      if (n) m.items.inc({ family, outcome: result.duplicate ? "duplicate" : "accepted" }, n);
    }
    if (result.duplicate) m.batches.dropped("duplicate");
    else m.batches.sent();
    return result;
  };

  // The design's MaxErrorReportsPerHour: error reports over the instance's hourly limit are dropped and
  // counted, the rest of the batch is stored. The counter is bookkeeping too: when Redis fails, nothing is
  // dropped (counted as outcome error_reports_unchecked), the batch is never refused for it.
  const limitErrorReports = async (
    decision: Extract<BatchDecision, { kind: "publish" }>,
    receivedAt: number,
  ): Promise<{ decision: Extract<BatchDecision, { kind: "publish" }>; dropped: number }> => {
    const n = opts.errorReports ? errorReportsIn(decision.batch) : 0;
    if (!opts.errorReports || n === 0) return { decision, dropped: 0 };
    let allowed: number;
    try {
      allowed = await opts.errorReports.allow(decision.instanceId, n);
    } catch (err) {
      m.items.inc({ family: "metrics", outcome: "error_reports_unchecked" }, n);
      app.log.debug({ err }, "error reports not counted");
      return { decision, dropped: 0 };
    }
    const capped = capErrorReports(decision, allowed, receivedAt);
    if (capped.dropped) {
      m.items.inc({ family: "metrics", outcome: "error_reports_limit" }, capped.dropped);
      opts.onErrorReportsDropped?.(capped.dropped);
    }
    return capped;
  };

  // The sequence is bookkeeping: the batch is stored already, so a failure to track it is counted and
  // logged at debug (an outage would log per batch otherwise), never answered.
  const recordSequence = async (instanceId: string, seq: number) => {
    try {
      const r = await opts.sequences.record(instanceId, seq);
      m.seq.inc({ outcome: r.outcome });
      if (r.missing) m.missing.inc(r.missing);
    } catch (err) {
      m.seqErrors.inc();
      app.log.debug({ err }, "sequence not recorded");
    }
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
      // parse → accept (pure) → publish → respond.
      const parsed = parseBatch(
        request.body,
        String(request.headers[FINGERPRINT_HEADER] ?? ""),
        avro,
        receivedAt,
      );
      let decision = acceptBatch(parsed, identity, { ...opts.time, receivedAt });
      for (const r of decision.rejected) m.items.inc({ family: r.family, outcome: "rejected" });
      for (const [family, n] of Object.entries(decision.filtered)) {
        m.items.inc({ family, outcome: "no_consent" }, n);
      }
      for (const [family, n] of Object.entries(decision.filteredMetrics)) {
        m.metricsNoConsent.inc({ consent_family: family }, n);
      }
      if (decision.kind === "invalid") {
        m.batches.dropped("invalid");
        return reply
          .code(400)
          .send({ error: { code: "INVALID_BODY", message: decision.message }, rejected: decision.rejected });
      }
      // Accepted with nothing left to store (no consent for any item, or only error reports over the limit).
      const nothingToStore = (
        d: { batchId: string; rejected: unknown; filtered: unknown },
        reason: string,
      ) => {
        m.batches.dropped(reason);
        return reply.code(202).send({
          accepted: 0,
          batch_id: d.batchId,
          duplicate: false,
          rejected: d.rejected,
          filtered: d.filtered,
          clamped: 0,
        });
      };
      if (decision.kind === "filtered") return nothingToStore(decision, "no_consent");
      const limited = await limitErrorReports(decision, receivedAt);
      decision = limited.decision;
      if (limited.dropped) reply.header(DROPPED_ERROR_REPORTS_HEADER, String(limited.dropped));
      if (decision.items === 0) return nothingToStore(decision, "error_reports_limit");
      const result = await publish(decision, request.ip, receivedAt);
      // Bookkeeping after the batch is stored: the answer does not wait for it (deps.close flushes it).
      void recordSequence(decision.instanceId, decision.seq);
      if (decision.clamped) reply.header(CLAMPED_HEADER, String(decision.clamped));
      return reply.code(202).send({
        accepted: result.duplicate ? 0 : decision.items,
        batch_id: decision.batchId,
        duplicate: result.duplicate,
        rejected: decision.rejected,
        filtered: decision.filtered,
        clamped: decision.clamped,
      });
    },
  );
}
