import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminToken } from "../licensing/license-client.ts";
import { type LicensingHarness, licensingHarness } from "../licensing/licensing-app.ts";

// Grafana's webhook contact point posts to the service's alert intake; each firing alert becomes an
// alert.fired event for the endpoints subscribed to it.
const TOKEN = randomBytes(24).toString("base64url");
let h: LicensingHarness;
let admin: string;
let endpointId: string;

beforeAll(async () => {
  // The worker stays idle here (long poll): the test reads the queued deliveries, not their sending.
  h = await licensingHarness({ SMSTATS_ALERTS_INTAKE_TOKEN: TOKEN, SMSTATS_WEBHOOKS_POLL_MS: "3600000" });
  admin = await adminToken(h.deps.pg, ["webhooks:read", "webhooks:write"], "alert-intake-test");
  const res = await h.adminCall(
    "POST",
    "/v1/admin/webhooks",
    { url: "http://127.0.0.1:9/alerts", events: ["alert.fired"] },
    admin,
  );
  expect(res.statusCode, res.body).toBe(201);
  endpointId = res.json().endpoint.id;
});
afterAll(async () => {
  await h.adminCall("POST", `/v1/admin/webhooks/${endpointId}/disable`, {}, admin);
  await h?.close();
});

const grafanaPayload = (status: string) => ({
  receiver: "smstats-service-webhook",
  status,
  alerts: [
    {
      status,
      labels: { alertname: "Scale: API latency p95 above 500 ms", severity: "warning", service: "smstats" },
      annotations: { summary: "p95 is 0.8 s" },
      startsAt: new Date().toISOString(),
      fingerprint: randomBytes(8).toString("hex"),
    },
  ],
});

const post = (body: unknown, token: string | null) =>
  h.app.inject({
    method: "POST",
    url: "/v1/webhooks/alerts",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    payload: JSON.stringify(body),
  });

describe("alert intake", () => {
  it("queues alert.fired for each firing alert and refuses a wrong token", async () => {
    expect((await post(grafanaPayload("firing"), "wrong-token-wrong-token")).json().error.code).toBe(
      "ALERTS_TOKEN_INVALID",
    );
    expect((await post(grafanaPayload("firing"), null)).statusCode).toBe(401);
    const res = await post(grafanaPayload("firing"), TOKEN);
    expect(res.json()).toMatchObject({ received: true, queued: 1 });
    expect((await post(grafanaPayload("resolved"), TOKEN)).json()).toMatchObject({ queued: 0 });
    const { rows } = await h.deps.pg.query(
      "SELECT event_type, payload FROM webhook_deliveries WHERE endpoint_id = $1",
      [endpointId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].event_type).toBe("alert.fired");
    expect(rows[0].payload.data.labels.alertname).toBe("Scale: API latency p95 above 500 ms");
  });
});
