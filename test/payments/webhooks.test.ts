import { execFile } from "node:child_process";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../lib/config/index.ts";
import { checkWebhookTarget, isLoopback, retryDelayMs } from "../../webhooks/index.ts";
import { adminToken } from "../licensing/license-client.ts";
import { type LicensingHarness, licensingHarness } from "../licensing/licensing-app.ts";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

// A receiver on loopback that answers with the next scripted status (200 once the script is used up).
async function receiver(script: number[]): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      got.push({ headers: req.headers, body });
      res.writeHead(script.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };
}

let h: LicensingHarness;
let token: string;
const endpoints: string[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  h = await licensingHarness({ SMSTATS_WEBHOOKS_BACKOFF_MS: "150,300", SMSTATS_WEBHOOKS_POLL_MS: "50" });
  token = await adminToken(h.deps.pg, ["webhooks:read", "webhooks:write"], "webhooks-test");
});
afterAll(async () => {
  // Disabled endpoints get nothing more, so later runs never post to this run's closed ports.
  for (const id of endpoints) await h.adminCall("POST", `/v1/admin/webhooks/${id}/disable`, {}, token);
  await h?.close();
  for (const s of servers) s.close();
});

async function register(url: string, events: string[]) {
  const res = await h.adminCall("POST", "/v1/admin/webhooks", { url, events }, token);
  if (res.statusCode === 201) endpoints.push(res.json().endpoint.id);
  return res;
}

async function deliveryOf(
  endpointId: string,
  until: (d: Record<string, unknown>) => boolean,
  timeoutMs = 15_000,
) {
  const start = Date.now();
  for (;;) {
    const res = await h.adminCall(
      "GET",
      `/v1/admin/webhooks/deliveries?endpoint=${endpointId}`,
      undefined,
      token,
    );
    const d = res.json().deliveries[0];
    if (d && until(d)) return d;
    if (Date.now() - start > timeoutMs) throw new Error(`delivery not as expected: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("outgoing webhooks", () => {
  it("signs per Standard Webhooks; a receiver failing twice gets the event again after each failure, then it is delivered", async () => {
    const r = await receiver([500, 503]);
    servers.push(r.server);
    const created = await register(r.url, ["license.created"]);
    expect(created.statusCode, created.body).toBe(201);
    const { endpoint, secret } = created.json();
    expect(secret).toMatch(/^whsec_/);
    const issued = await h.issue("venue", { owner_email: `hook-${Date.now()}@example.com` });
    const d = await deliveryOf(endpoint.id, (x) => x.status === "delivered");
    expect(r.got).toHaveLength(3);
    expect(new Set(r.got.map((g) => g.headers["webhook-id"])).size).toBe(1);
    for (const g of r.got) {
      const payload = new Webhook(secret).verify(g.body, g.headers as Record<string, string>) as {
        type: string;
        data: { license: { id: string } };
      };
      expect(payload.type).toBe("license.created");
      expect(payload.data.license.id).toBe(issued.license.id);
    }
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(24, 1).toString("base64")}`).verify(
        r.got[0]?.body as string,
        r.got[0]?.headers as Record<string, string>,
      ),
    ).toThrow();
    expect(d.attempts).toBe(3);
    expect(d.log.map((a: { status: number }) => a.status)).toEqual([500, 503, 200]);
    // Retries waited at least the backoff schedule (150 ms, then 300 ms).
    const times = d.log.map((a: { at: string }) => Date.parse(a.at));
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(140);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(290);
  });

  it("never sends to a non-loopback address in development and test config", async () => {
    const refused = await register("http://192.0.2.10/hook", ["license.created"]);
    expect([refused.statusCode, refused.json().error.code]).toEqual([400, "WEBHOOK_TARGET_REFUSED"]);
    await expect(checkWebhookTarget("http://example.com/", false)).rejects.toMatchObject({
      code: "WEBHOOK_TARGET_REFUSED",
    });
    expect([
      isLoopback("127.0.0.1"),
      isLoopback("::1"),
      isLoopback("::ffff:127.0.0.2"),
      isLoopback("10.0.0.1"),
    ]).toEqual([true, true, true, false]);
    // An endpoint whose address was changed behind the API's back is refused at delivery time too.
    const r = await receiver([]);
    servers.push(r.server);
    const { endpoint } = (await register(r.url, ["instance.banned", "license.revoked"])).json();
    await h.deps.pg.query("UPDATE webhook_endpoints SET url = 'http://192.0.2.10/hook' WHERE id = $1", [
      endpoint.id,
    ]);
    await h
      .issue("party_host")
      .then((x) => h.adminCall("POST", `/v1/admin/licenses/${x.license.id}/revoke`, { reason: "test" }));
    const d = await deliveryOf(endpoint.id, (x) => (x.attempts as number) >= 1);
    expect(d.status).not.toBe("delivered");
    expect(d.last_error).toMatch(/^refused: .*not a loopback address/);
    expect(r.got).toHaveLength(0);
  });

  it("replays a delivery with `smstats webhooks replay`", async () => {
    const r = await receiver([]);
    servers.push(r.server);
    const { endpoint } = (await register(r.url, ["license.created"])).json();
    await h.issue("starter");
    const d = await deliveryOf(endpoint.id, (x) => x.status === "delivered");
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(repoRoot, "bin/smstats.mjs"), "webhooks", "replay", d.id],
      {
        cwd: repoRoot,
        env: process.env,
      },
    );
    expect(stdout).toContain("queued again");
    await deliveryOf(endpoint.id, (x) => x.attempts === 2 && x.status === "delivered");
    expect(r.got).toHaveLength(2);
    expect(r.got[1]?.headers["webhook-id"]).toBe(r.got[0]?.headers["webhook-id"]);
  });

  it("backs off by the schedule, repeating its last delay", () => {
    expect([1, 2, 3, 9].map((n) => retryDelayMs([5, 300, 1800], n))).toEqual([5, 300, 1800, 1800]);
  });
});
