import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { expect } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import type { Config } from "../../lib/config/index.ts";
import { ANSWER_SIGNATURE_HEADER, type KeyStore, verifyLicenseAnswer } from "../../licensing/index.ts";
import { testIngest } from "../support/app.ts";
import type { TestInstance } from "../support/instance-client.ts";
import { adminToken, instanceCall, newNonce, publishedKeys } from "./license-client.ts";

/** A full ingest app for licensing tests, with an all-scopes admin token and the published keys. */
export interface LicensingHarness {
  app: FastifyInstance;
  deps: IngestDeps;
  config: Readonly<Config>;
  keys: KeyStore;
  admin: string;
  adminCall(
    method: "GET" | "POST",
    url: string,
    payload?: unknown,
    token?: string | null,
  ): Promise<LightMyRequestResponse>;
  issue(
    tier?: string,
    extra?: Record<string, unknown>,
  ): Promise<{ license: { id: string; key_hint: string }; key: string }>;
  /** Sends a licensing request and checks the signed answer as an instance would; returns the verified body. */
  ask(inst: TestInstance, path: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Builds the harness; `env` overrides settings (rate limits are raised unless given). */
export async function licensingHarness(env: Record<string, string> = {}): Promise<LicensingHarness> {
  const { app, deps, config } = await testIngest({
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000,party_host=100000,venue=100000",
    ...env,
  });
  await app.ready();
  const keys = await publishedKeys(app);
  const admin = await adminToken(deps.pg, [
    "licenses:read",
    "licenses:write",
    "instances:read",
    "instances:write",
    "audit:read",
  ]);
  const adminCall: LicensingHarness["adminCall"] = (method, url, payload, token = admin) =>
    app.inject({
      method,
      url,
      payload: payload as never,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
  return {
    app,
    deps,
    config,
    keys,
    admin,
    adminCall,
    async issue(tier = "party_host", extra = {}) {
      const res = await adminCall("POST", "/v1/admin/licenses", {
        tier,
        owner_email: "host@example.com",
        days: 365,
        ...extra,
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json();
    },
    async ask(inst, path, body) {
      const nonce = newNonce();
      const res = await instanceCall(app, inst, "POST", path, { ...body, nonce });
      expect(res.statusCode, res.body).toBe(200);
      return verifyLicenseAnswer(
        keys,
        {
          method: "POST",
          path,
          date: res.headers.date as string,
          signature: res.headers[ANSWER_SIGNATURE_HEADER] as string,
          body: res.rawPayload,
        },
        { instanceId: inst.instanceId, nonce },
      ).body;
    },
    async close() {
      await app.close();
      await deps.close();
    },
  };
}

/** The value of one labelled series in a Prometheus text exposition, 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf("}"));
    if (want.every((w) => inner.split(",").includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}
