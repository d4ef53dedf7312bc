import { describe, expect, it } from "vitest";
import { acceptBatch } from "../../ingest/routes/v1/stats/accept-batch.ts";
import { parseBatch } from "../../ingest/routes/v1/stats/parse-batch.ts";
import { METRICS_BATCH_SCHEMA, SchemaRegistry } from "../../schemas/index.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";

const registry = new SchemaRegistry();
const latest = registry.latest(METRICS_BATCH_SCHEMA);
const avro = { registry, recordName: latest.name };
const now = Date.now();
const rules = { receivedAt: now, futureToleranceMs: 300_000, maxAgeMs: 30 * 86_400_000 };
const all = { quality: true, playback: true, session: true, library: true };
const sender = { instanceId: "inst-1", consent: all };

describe("acceptBatch: what a parsed batch becomes", () => {
  it("publishes an unchanged Avro body as the bytes sent", () => {
    const batch = freshBatch("everything", "inst-1", "b1", now);
    const bytes = latest.type.toBuffer(batch);
    const d = acceptBatch(parseBatch(bytes, latest.fingerprint, avro, now), sender, rules);
    expect(d.kind).toBe("publish");
    if (d.kind !== "publish") return;
    expect(d.input).toMatchObject({ kind: "encoded", fingerprint: latest.fingerprint, batchId: "b1" });
    expect(d.items).toBe(
      batch.metrics.length + batch.library.length + batch.playback.length + batch.session.length + 1,
    );
    expect(d).toMatchObject({ rejected: [], filtered: {}, clamped: 0 });
  });

  it("filters the families without consent and publishes the rest as a record", () => {
    const batch = freshBatch("everything", "inst-1", "b2", now);
    const d = acceptBatch(
      parseBatch(toJsonBody(batch), "", avro, now),
      { ...sender, consent: { ...all, playback: false } },
      rules,
    );
    expect(d.kind).toBe("publish");
    if (d.kind !== "publish") return;
    expect(d.filtered).toEqual({ playback: batch.playback.length });
    expect(d.counts.playback).toBe(0);
    expect(d.input.kind).toBe("record");
    if (d.input.kind === "record") expect(d.input.batch.playback).toEqual([]);
  });

  it("answers a batch with every item filtered as filtered, not invalid", () => {
    const batch = freshBatch("playback", "inst-1", "b3", now);
    const d = acceptBatch(
      parseBatch(toJsonBody(batch), "", avro, now),
      { ...sender, consent: { ...all, playback: false } },
      rules,
    );
    expect(d).toEqual({
      kind: "filtered",
      batchId: "b3",
      rejected: [],
      filtered: { playback: batch.playback.length },
      filteredMetrics: {},
    });
  });

  it("rejects a batch whose every item breaks a rule, listing each", () => {
    const body = toJsonBody(freshBatch("quality", "inst-1", "b4", now)) as Record<string, unknown>;
    body.metrics = [{ name: "x", value: "NaN" }];
    const d = acceptBatch(parseBatch(body, "", avro, now), sender, rules);
    expect(d).toMatchObject({ kind: "invalid", message: "no valid item in the batch" });
    expect(d.rejected).toEqual([expect.objectContaining({ family: "metrics", index: 0 })]);
  });

  it("drops items older than the accepted age", () => {
    const old = freshBatch("quality", "inst-1", "b5", now - 40 * 86_400_000);
    const d = acceptBatch(parseBatch(toJsonBody(old), "", avro, now), sender, rules);
    expect(d.kind).toBe("invalid");
    expect(d.rejected.length).toBe(old.metrics.length);
  });

  it("refuses a batch of another instance than the token's", () => {
    const batch = freshBatch("quality", "someone-else", "b6", now);
    expect(() => acceptBatch(parseBatch(toJsonBody(batch), "", avro, now), sender, rules)).toThrow(
      expect.objectContaining({ code: "INSTANCE_MISMATCH" }),
    );
  });

  it("refuses an Avro body of an unknown writer schema", () => {
    expect(() => parseBatch(Buffer.from([1, 2, 3]), "nope", avro, now)).toThrow(
      expect.objectContaining({ code: "SCHEMA_UNKNOWN" }),
    );
  });
});
