import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import {
  ANSWER_SIGNATURE_HEADER,
  type KeyStore,
  verifyLease,
  verifyLicenseAnswer,
} from "../../licensing/index.ts";
import { seedBody, testIngest } from "../support/app.ts";
import { postBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";
import { adminToken, instanceCall, machine, newNonce, publishedKeys } from "./license-client.ts";

let app: FastifyInstance;
let deps: IngestDeps;
let keys: KeyStore;
let admin: string;

beforeAll(async () => {
  ({ app, deps } = await testIngest({
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000,party_host=100000,venue=100000",
  }));
  await app.ready();
  keys = await publishedKeys(app);
  admin = await adminToken(deps.pg, [
    "licenses:read",
    "licenses:write",
    "instances:read",
    "instances:write",
    "audit:read",
  ]);
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

const adminCall = (method: "GET" | "POST", url: string, payload?: unknown, token = admin) =>
  app.inject({ method, url, payload: payload as never, headers: { authorization: `Bearer ${token}` } });

async function issue(tier = "party_host", extra: Record<string, unknown> = {}) {
  const res = await adminCall("POST", "/v1/admin/licenses", {
    tier,
    owner_email: "host@example.com",
    days: 365,
    ...extra,
  });
  expect(res.statusCode).toBe(201);
  return res.json() as { license: { id: string }; key: string };
}

/** Sends a licensing request and verifies the signed answer as the instance would. */
async function ask(inst: TestInstance, path: string, body: Record<string, unknown>) {
  const nonce = newNonce();
  const res = await instanceCall(app, inst, "POST", path, { ...body, nonce });
  expect(res.statusCode, res.body).toBe(200);
  const verified = verifyLicenseAnswer(
    keys,
    {
      method: "POST",
      path,
      date: res.headers.date as string,
      signature: res.headers[ANSWER_SIGNATURE_HEADER] as string,
      body: res.rawPayload,
    },
    { instanceId: inst.instanceId, nonce },
  );
  return { ...verified, res, nonce };
}

describe("license lifecycle", () => {
  it("register → activate → validate → heartbeat → revoke → REVOKED within 1 s → continue false", async () => {
    const inst = await registerInstance(app);
    const { key, license } = await issue();
    const fp = machine(inst.instanceId);

    const activated = await ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: fp });
    expect(activated.body).toMatchObject({
      valid: true,
      reason: "VALID",
      tier: "party_host",
      license_id: license.id,
    });

    const validated = await ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: fp });
    expect(validated.body).toMatchObject({
      valid: true,
      reason: "VALID",
      tier: "party_host",
      features: expect.arrayContaining(["youtube_import"]),
      limits: { max_songs: null, max_guests: 50, max_rooms: 1 },
      enforcement: { mode: "strict", offline_grace_seconds: 7 * 86400, on_expiry: "starter" },
    });
    // The lease verifies offline with nothing but the published keys.
    const lease = verifyLease(keys, validated.body.lease as string, {
      instanceId: inst.instanceId,
      nonce: validated.nonce,
    });
    expect(lease).toMatchObject({
      tier: "party_host",
      lic: license.id,
      reason: "VALID",
      nonce: validated.nonce,
    });
    expect(lease.exp * 1000).toBeLessThanOrEqual(Date.now() + 7 * 86400_000 + 1000);

    const beat = await ask(inst, "/v1/auth/heartbeat", { fingerprint: fp });
    expect(beat.body).toMatchObject({ continue: true, reason: "VALID" });
    expect(Date.parse(beat.body.next_heartbeat_at as string)).toBeGreaterThan(Date.now() + 3500_000);

    // Warm the cache so the revocation has something to beat.
    await ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: fp });
    const revoked = await adminCall("POST", `/v1/admin/licenses/${license.id}/revoke`, {
      reason: "chargeback",
    });
    expect(revoked.statusCode).toBe(200);
    const t0 = performance.now();
    let reason = "";
    while (performance.now() - t0 < 1000) {
      reason = (await ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: fp })).body.reason;
      if (reason === "REVOKED") break;
    }
    const elapsed = performance.now() - t0;
    console.log(`revocation visible after ${elapsed.toFixed(1)} ms`);
    expect(reason).toBe("REVOKED");
    expect(elapsed).toBeLessThan(1000);

    const after = await ask(inst, "/v1/auth/heartbeat", { fingerprint: fp });
    expect(after.body).toMatchObject({ continue: false, reason: "REVOKED", lease: null });
  });

  it("tells a banned instance to stop: BANNED, continue false, no lease, at once and after the identity cache", async () => {
    const inst = await registerInstance(app);
    const { key } = await issue("venue");
    const fp = machine(inst.instanceId);
    expect((await ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: fp })).body.reason).toBe(
      "VALID",
    );
    expect((await ask(inst, "/v1/auth/heartbeat", { fingerprint: fp })).body.continue).toBe(true);
    const ban = await adminCall("POST", `/v1/admin/instances/${inst.instanceId}/ban`, { reason: "resale" });
    expect(ban.statusCode).toBe(200);
    const now = await ask(inst, "/v1/auth/heartbeat", { fingerprint: fp });
    expect(now.body).toMatchObject({ continue: false, reason: "BANNED", lease: null, valid: false });
    // Past the ingest's identity cache (2 s) the answer is the same signed one, not a bare 403.
    await new Promise((r) => setTimeout(r, 2100));
    expect((await ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: fp })).body.reason).toBe(
      "BANNED",
    );
    // Telemetry, on the other hand, is refused.
    expect((await postBatch(app, inst, seedBody(inst.instanceId))).statusCode).toBe(403);
  });
});
