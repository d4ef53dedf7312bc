import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { type KeyStore, verifyAnswerSignature } from "../../licensing/index.ts";
import { testIngest } from "../support/app.ts";
import { postBatch, registerInstance } from "../support/instance-client.ts";
import { instanceCall, newNonce, publishedKeys } from "./license-client.ts";

let app: FastifyInstance;
let deps: IngestDeps;
let keys: KeyStore;

beforeAll(async () => {
  ({ app, deps } = await testIngest({
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000,party_host=100000,venue=100000",
  }));
  await app.ready();
  keys = await publishedKeys(app);
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

const batch = (instanceId: string) => ({
  instance_id: instanceId,
  timestamp: new Date().toISOString(),
  metrics: [{ name: "uptime_seconds", value: 60 }],
  playback: [{ time: new Date().toISOString(), event_type: "played", song: { source: "local" } }],
});

describe("PUT /v1/instances/{id}/consent", () => {
  it("withdraws a family for the very next batch, records each change with its time, and signs the answer", async () => {
    const inst = await registerInstance(app);
    // The identity (with consent) is cached after this batch: the change must still apply to the next one.
    const before = await postBatch(app, inst, batch(inst.instanceId));
    expect(before.statusCode, before.body).toBe(202);
    expect(before.json(), before.body).toMatchObject({ accepted: 2, filtered: {} });

    const path = `/v1/instances/${inst.instanceId}/consent`;
    const res = await instanceCall(app, inst, "PUT", path, { playback: false, quality: true });
    expect(res.statusCode, res.body).toBe(200);
    const answer = res.json();
    expect(answer.consent).toEqual({ quality: true, playback: false, session: true, library: true });
    expect(answer.changed).toEqual(["playback"]);
    verifyAnswerSignature(keys, {
      method: "PUT",
      path,
      date: res.headers.date as string,
      signature: res.headers["sm-signature"] as string,
      body: res.rawPayload,
    });

    const after = await postBatch(app, inst, batch(inst.instanceId));
    expect(after.statusCode, after.body).toBe(202);
    expect(after.json().filtered, after.body).toEqual({ playback: 1 });

    await instanceCall(app, inst, "PUT", path, { playback: true });
    const { rows } = await deps.pg.query(
      "SELECT family, granted, changed_at FROM instance_consent_changes WHERE instance_id = $1 ORDER BY id",
      [inst.instanceId],
    );
    expect(rows.map((r) => [r.family, r.granted])).toEqual([
      ["playback", false],
      ["playback", true],
    ]);
    expect(new Date(rows[0].changed_at).toISOString()).toBe(answer.changed_at);
  });

  it("stops storage from the next batch in another ingest process too, whatever its identity cache holds", async () => {
    // A second process with a long identity cache: only the PostgreSQL notification can tell it.
    const other = await testIngest({
      SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000",
      SMSTATS_INGEST_IDENTITY_CACHE_MS: "600000",
    });
    try {
      const inst = await registerInstance(app);
      const first = await postBatch(other.app, inst, batch(inst.instanceId));
      expect(first.json(), first.body).toMatchObject({ accepted: 2, filtered: {} });
      const path = `/v1/instances/${inst.instanceId}/consent`;
      expect((await instanceCall(app, inst, "PUT", path, { playback: false })).statusCode).toBe(200);
      // The notification is sent at commit, before the answer; allow it the moment it takes to arrive.
      let after = await postBatch(other.app, inst, batch(inst.instanceId));
      for (let i = 0; i < 20 && Object.keys(after.json().filtered ?? {}).length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        after = await postBatch(other.app, inst, batch(inst.instanceId));
      }
      expect(after.json().filtered, after.body).toEqual({ playback: 1 });
    } finally {
      await other.app.close();
      await other.deps.close();
    }
  });

  it("refuses another instance's id, unknown fields and an empty body with stable codes", async () => {
    const a = await registerInstance(app);
    const b = await registerInstance(app);
    const other = await instanceCall(app, a, "PUT", `/v1/instances/${b.instanceId}/consent`, {
      quality: false,
    });
    expect(other.statusCode).toBe(403);
    expect(other.json().error.code).toBe("INSTANCE_MISMATCH");
    const path = `/v1/instances/${a.instanceId}/consent`;
    const unknown = await instanceCall(app, a, "PUT", path, { telemetry: false });
    expect(unknown.statusCode).toBe(400);
    const empty = await instanceCall(app, a, "PUT", path, {});
    expect(empty.statusCode).toBe(400);
  });

  it("is in the OpenAPI document", async () => {
    const doc = (await app.inject({ method: "GET", url: "/docs/openapi.json" })).json();
    expect(doc.paths["/v1/instances/{id}/consent"].put).toBeDefined();
    expect(
      doc.paths["/v1/auth/heartbeat"].post.requestBody.content["application/json"].schema.properties
        .session_stats,
    ).toBeDefined();
  });
});

describe("heartbeat session_stats", () => {
  it("accepts the design's session_stats and keeps the latest per instance", async () => {
    const inst = await registerInstance(app);
    const stats = { session_id: "s-1", users_current: 4, users_peak_concurrent: 9, songs_played: 12 };
    const res = await instanceCall(app, inst, "POST", "/v1/auth/heartbeat", {
      nonce: newNonce(),
      session_stats: stats,
    });
    expect(res.statusCode, res.body).toBe(200);
    const { rows } = await deps.pg.query("SELECT stats FROM instance_session_stats WHERE instance_id = $1", [
      inst.instanceId,
    ]);
    expect(rows[0]?.stats).toEqual(stats);
    const bad = await instanceCall(app, inst, "POST", "/v1/auth/heartbeat", {
      nonce: newNonce(),
      session_stats: { songs_played: -1 },
    });
    expect(bad.statusCode).toBe(400);
  });
});
