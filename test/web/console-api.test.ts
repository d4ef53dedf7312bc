import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { repoRoot } from "../../lib/config/index.ts";
import { ADMIN_SCOPES, type AdminScope } from "../../licensing/index.ts";
import { adminToken, instanceCall, machine, newNonce } from "../licensing/license-client.ts";
import { testIngest } from "../support/app.ts";
import { registerInstance } from "../support/instance-client.ts";

// The console's and the portal's API through inject(), on the real stack: sessions, CSRF, scopes per route,
// security headers, the instance list's paging and the portal's throttle.

let app: FastifyInstance;
let deps: IngestDeps;

beforeAll(async () => {
  ({ app, deps } = await testIngest({
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000,party_host=100000,venue=100000",
    SMSTATS_INGEST_TRUST_PROXY: "127.0.0.1,::1",
    SMSTATS_WEB_PORTAL_SIGNIN_ATTEMPTS: "3",
  }));
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

/** The scope each console / admin API route needs; a route missing here fails the walk below. */
const ADMIN_ROUTES: Record<string, AdminScope | "session"> = {
  "GET /v1/admin/session": "session",
  "POST /v1/admin/session/end": "session",
  "GET /v1/admin/instances": "instances:read",
  "GET /v1/admin/instances/{id}": "instances:read",
  "GET /v1/admin/instances/{id}/activity": "instances:read",
  "POST /v1/admin/instances/{id}/ban": "instances:write",
  "POST /v1/admin/instances/{id}/unban": "instances:write",
  "DELETE /v1/admin/instances/{id}/data": "instances:write",
  "GET /v1/admin/instances/{id}/export": "instances:read",
  "POST /v1/admin/instances/{id}/reset-registration": "instances:write",
  "GET /v1/admin/licenses": "licenses:read",
  "GET /v1/admin/licenses/{ref}": "licenses:read",
  "POST /v1/admin/licenses": "licenses:write",
  "POST /v1/admin/licenses/{ref}/revoke": "licenses:write",
  "POST /v1/admin/licenses/{ref}/extend": "licenses:write",
  "GET /v1/admin/audit": "audit:read",
  "GET /v1/admin/stats/overview": "stats:read",
  "GET /v1/admin/stats/daily": "stats:read",
  "GET /v1/admin/stats/pipeline": "stats:read",
  "GET /v1/admin/webhooks": "webhooks:read",
  "GET /v1/admin/webhooks/deliveries": "webhooks:read",
  "POST /v1/admin/webhooks": "webhooks:write",
  "POST /v1/admin/webhooks/{id}/disable": "webhooks:write",
  "POST /v1/admin/webhooks/deliveries/{id}/replay": "webhooks:write",
};
const SIGN_IN = new Set(["POST /v1/admin/session", "POST /v1/portal/session"]);

/** Every console and portal API route of the OpenAPI document, as "METHOD /path/{param}". */
function documentedRoutes(): string[] {
  const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths)
    .filter(([path]) => path.startsWith("/v1/admin/") || path.startsWith("/v1/portal/"))
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
}

/** A request for a route: params filled with a fresh uuid, a plausible body for POSTs. */
function requestFor(route: string, headers: Record<string, string> = {}) {
  const [method, path] = route.split(" ") as ["GET" | "POST" | "DELETE", string];
  const url = path.replace(/\{[^}]+\}/g, randomUUID());
  const payload =
    method === "POST" ? { reason: "test", tier: "venue", owner_email: "x@example.com" } : undefined;
  return { method, url, headers, payload } as const;
}

const cookieOf = (res: LightMyRequestResponse, name: string): string => {
  const c = res.cookies.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} cookie in ${res.statusCode} ${res.body}`);
  return `${name}=${c.value}`;
};

async function adminSession(
  scopes: readonly string[],
): Promise<{ cookie: string; csrf: string; token: string }> {
  const token = await adminToken(deps.pg, [...scopes], `console-${randomUUID().slice(0, 8)}`);
  const res = await app.inject({ method: "POST", url: "/v1/admin/session", payload: { token } });
  expect(res.statusCode, res.body).toBe(200);
  return { cookie: cookieOf(res, "smstats_admin"), csrf: res.json().csrf_token, token };
}

describe("console sessions", () => {
  it("walks every console and portal API route: each is refused without a session", async () => {
    const routes = documentedRoutes().filter((r) => !SIGN_IN.has(r));
    expect(routes.length).toBeGreaterThanOrEqual(20);
    for (const route of routes) {
      const res = await app.inject(requestFor(route));
      const expected = route.includes("/v1/portal/") ? "PORTAL_SESSION_INVALID" : "ADMIN_TOKEN_INVALID";
      expect(res.statusCode, route).toBe(401);
      expect(res.json().error.code, route).toBe(expected);
    }
    // And with a forged cookie.
    for (const route of routes) {
      const res = await app.inject(
        requestFor(route, {
          cookie: "smstats_admin=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; smstats_portal=x",
        }),
      );
      expect(res.statusCode, route).toBe(401);
    }
  });

  it("a token without a route's scope reaches no page or action outside it (each admin route)", async () => {
    const admin = documentedRoutes().filter((r) => r.includes("/v1/admin/") && !SIGN_IN.has(r));
    expect(new Set(admin)).toEqual(new Set(Object.keys(ADMIN_ROUTES)));
    for (const [route, scope] of Object.entries(ADMIN_ROUTES)) {
      if (scope === "session") continue;
      const narrower = ADMIN_SCOPES.filter((s) => s !== scope);
      const s = await adminSession(narrower);
      const res = await app.inject(requestFor(route, { cookie: s.cookie, "x-csrf-token": s.csrf }));
      expect(res.statusCode, route).toBe(403);
      expect(res.json().error.code, route).toBe("ADMIN_SCOPE_MISSING");
      // The same route with the scope gets past authorisation (whatever the fake ids then answer).
      const full = await adminSession([scope]);
      const ok = await app.inject(requestFor(route, { cookie: full.cookie, "x-csrf-token": full.csrf }));
      expect([401, 403], `${route} ${ok.body}`).not.toContain(ok.statusCode);
      // Parameterless reads answer (the fleet figures read ClickHouse; the pipeline NATS).
      if (!route.includes("{") && route.startsWith("GET"))
        expect(ok.statusCode, `${route} ${ok.body}`).toBe(200);
    }
  });

  it("sets an httpOnly SameSite=Strict cookie, Secure only over TLS; a wrong token gets none", async () => {
    const token = await adminToken(deps.pg, ["audit:read"]);
    const plain = await app.inject({ method: "POST", url: "/v1/admin/session", payload: { token } });
    const c = plain.cookies.find((x) => x.name === "smstats_admin");
    expect(c).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    expect(c?.secure).toBeFalsy();
    const tls = await app.inject({
      method: "POST",
      url: "/v1/admin/session",
      payload: { token },
      headers: { "x-forwarded-proto": "https" },
    });
    expect(tls.cookies.find((x) => x.name === "smstats_admin")).toMatchObject({
      httpOnly: true,
      secure: true,
    });
    const wrong = await app.inject({
      method: "POST",
      url: "/v1/admin/session",
      payload: { token: `smadm_${"A".repeat(43)}` },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.code).toBe("ADMIN_TOKEN_INVALID");
    expect(wrong.cookies).toHaveLength(0);
  });

  it("refuses a session's action without its CSRF token or from another origin", async () => {
    const s = await adminSession(["licenses:write", "licenses:read"]);
    const body = { tier: "venue", owner_email: "csrf@example.com", days: 1 };
    const none = await app.inject({
      method: "POST",
      url: "/v1/admin/licenses",
      payload: body,
      headers: { cookie: s.cookie },
    });
    expect(none.statusCode).toBe(403);
    expect(none.json().error.code).toBe("CSRF_INVALID");
    const otherSite = await app.inject({
      method: "POST",
      url: "/v1/admin/licenses",
      payload: body,
      headers: { cookie: s.cookie, "x-csrf-token": s.csrf, origin: "https://evil.example" },
    });
    expect(otherSite.json().error.code).toBe("CSRF_INVALID");
    const ok = await app.inject({
      method: "POST",
      url: "/v1/admin/licenses",
      payload: body,
      headers: { cookie: s.cookie, "x-csrf-token": s.csrf, origin: "http://localhost:80" },
    });
    expect(ok.statusCode, ok.body).toBe(201);
  });

  it("ends the session when its admin token is revoked or on sign-out", async () => {
    const s = await adminSession(["audit:read"]);
    expect(
      (await app.inject({ method: "GET", url: "/v1/admin/audit", headers: { cookie: s.cookie } })).statusCode,
    ).toBe(200);
    await deps.pg.query(
      "UPDATE admin_tokens SET revoked_at = now() WHERE token_hash = sha256($1::text::bytea)",
      [s.token],
    );
    const after = await app.inject({ method: "GET", url: "/v1/admin/audit", headers: { cookie: s.cookie } });
    expect(after.statusCode).toBe(401);
    const t = await adminSession(["audit:read"]);
    const end = await app.inject({
      method: "POST",
      url: "/v1/admin/session/end",
      headers: { cookie: t.cookie, "x-csrf-token": t.csrf },
    });
    expect(end.statusCode).toBe(204);
    expect(
      (await app.inject({ method: "GET", url: "/v1/admin/audit", headers: { cookie: t.cookie } })).statusCode,
    ).toBe(401);
  });
});

describe("console pages", () => {
  it("serve both pages with a CSP that allows no inline script, and no inline script in them", async () => {
    for (const page of ["/admin/", "/portal/"]) {
      const res = await app.inject({ method: "GET", url: page });
      expect(res.statusCode, page).toBe(200);
      const csp = res.headers["content-security-policy"] as string;
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      const scripts = [...res.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length).toBeGreaterThan(0);
      for (const [, attrs, inner] of scripts) {
        expect(attrs).toMatch(/src="\/assets\//);
        expect(inner?.trim()).toBe("");
      }
    }
  });
});

describe("GET /v1/admin/instances", () => {
  it("pages through a filter with cursors, without repeats, newest first; searches by hwid and email", async () => {
    const version = `t${randomUUID().slice(0, 8)}`;
    const email = `owner-${version}@example.com`;
    const { rows } = await deps.pg.query(
      `INSERT INTO instances (hwid, platform, version, owner_email_sealed, owner_email_index, registered_at, is_banned)
       SELECT 'hw-' || $1 || '-' || g, 'linux', $1, CASE WHEN g = 7 THEN $2::bytea END, CASE WHEN g = 7 THEN $3::bytea END,
         now() - make_interval(secs => g), g % 5 = 0
       FROM generate_series(1, 23) g RETURNING id, hwid`,
      [version, deps.vault.sealEmail(email), deps.vault.emailIndex(email)],
    );
    const s = await adminSession(["instances:read"]);
    const get = (qs: string) =>
      app.inject({ method: "GET", url: `/v1/admin/instances?${qs}`, headers: { cookie: s.cookie } });
    const seen: string[] = [];
    let cursor = "";
    for (let i = 0; i < 5; i++) {
      const res = await get(`version=${version}&limit=10${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json();
      seen.push(...page.items.map((x: { hwid: string }) => x.hwid));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(Array.from({ length: 23 }, (_, g) => `hw-${version}-${g + 1}`));
    const banned = (await get(`version=${version}&banned=true`)).json();
    expect(banned.items.map((x: { hwid: string }) => x.hwid)).toEqual(
      [5, 10, 15, 20].map((g) => `hw-${version}-${g}`),
    );
    const byHwid = (await get(`q=${rows[2].hwid}`)).json();
    expect(byHwid.items.map((x: { id: string }) => x.id)).toEqual([rows[2].id]);
    const byEmail = (await get(`q=${encodeURIComponent(email.toUpperCase())}`)).json();
    expect(byEmail.items.map((x: { hwid: string }) => x.hwid)).toEqual([`hw-${version}-7`]);
    const bad = await get("cursor=bm9wZQ");
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe("CURSOR_INVALID");
  });

  it("`smstats instance list` pages the same list on the terminal", async () => {
    const version = `c${randomUUID().slice(0, 8)}`;
    await deps.pg.query(
      `INSERT INTO instances (hwid, platform, version, registered_at)
       SELECT 'cli-' || $1 || '-' || g, 'windows', $1, now() - make_interval(secs => g) FROM generate_series(1, 3) g`,
      [version],
    );
    const smstats = async (...args: string[]) =>
      (
        await promisify(execFile)(process.execPath, [join(repoRoot, "bin/smstats.mjs"), ...args], {
          cwd: repoRoot,
        })
      ).stdout;
    const first = JSON.parse(
      await smstats("instance", "list", "--version", version, "--limit", "2", "--json"),
    );
    expect(first.items.map((i: { hwid: string }) => i.hwid)).toEqual([
      `cli-${version}-1`,
      `cli-${version}-2`,
    ]);
    const text = await smstats(
      "instance",
      "list",
      "--version",
      version,
      "--limit",
      "2",
      "--cursor",
      first.next_cursor,
    );
    expect(text).toContain("windows");
    expect(text.trim().split("\n")).toHaveLength(1);
  });
});

describe("license portal API", () => {
  it("throttles sign-in guessing per address: past the limit even the right key is refused with Retry-After", async () => {
    const issued = await issueLicense();
    const ip = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    await deps.redis.del(
      `${process.env.SMSTATS_REDIS_KEY_PREFIX}abuse:key_guessing:${deps.vault.addressTag(`portal:${ip}`)}`,
    );
    const signIn = (key: string) =>
      app.inject({
        method: "POST",
        url: "/v1/portal/session",
        payload: { license_key: key },
        headers: { "x-forwarded-for": ip },
      });
    for (let i = 0; i < 3; i++) {
      const res = await signIn(`SM-VENUE-${i}`);
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe("PORTAL_KEY_INVALID");
    }
    const limited = await signIn(issued.key);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe("PORTAL_SIGNIN_LIMITED");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    const elsewhere = await app.inject({
      method: "POST",
      url: "/v1/portal/session",
      payload: { license_key: issued.key },
      headers: { "x-forwarded-for": "203.0.113.9" },
    });
    expect(elsewhere.statusCode).toBe(200);
  });

  it("shows only the session's license's devices; another license's device cannot be touched", async () => {
    const mine = await issueLicense();
    const theirs = await issueLicense();
    const inst = await registerInstance(app);
    const act = await instanceCall(app, inst, "POST", "/v1/auth/activate", {
      license_key: theirs.key,
      fingerprint: machine(inst.instanceId),
      nonce: newNonce(),
    });
    expect(act.json().reason).toBe("VALID");
    const signIn = await app.inject({
      method: "POST",
      url: "/v1/portal/session",
      payload: { license_key: mine.key },
    });
    const cookie = cookieOf(signIn, "smstats_portal");
    const csrf = signIn.json().csrf_token;
    const devices = await app.inject({ method: "GET", url: "/v1/portal/devices", headers: { cookie } });
    expect(devices.json()).toEqual([]);
    for (const action of ["deactivate", "offline-license"]) {
      const res = await app.inject({
        method: action === "deactivate" ? "POST" : "GET",
        url: `/v1/portal/devices/${inst.instanceId}/${action}`,
        headers: { cookie, "x-csrf-token": csrf },
      });
      expect(res.statusCode, action).toBe(404);
      expect(res.json().error.code).toBe("DEVICE_NOT_FOUND");
    }
  });
});

describe("portal deactivation", () => {
  it("frees seats within the tier's transfer cap, then answers 429 TRANSFER_LIMIT with Retry-After", async () => {
    const s = await adminSession(["licenses:write"]);
    const issued = await app.inject({
      method: "POST",
      url: "/v1/admin/licenses",
      payload: { tier: "starter", owner_email: "cap@example.com", days: 30, max_instances: 10 },
      headers: { cookie: s.cookie, "x-csrf-token": s.csrf },
    });
    const key = issued.json().key as string;
    const signIn = await app.inject({
      method: "POST",
      url: "/v1/portal/session",
      payload: { license_key: key },
    });
    const cookie = cookieOf(signIn, "smstats_portal");
    const csrf = signIn.json().csrf_token;
    const outcomes: number[] = [];
    let last: LightMyRequestResponse | undefined;
    // Starter allows 3 self-service transfers per 30 days.
    for (let i = 0; i < 4; i++) {
      const inst = await registerInstance(app);
      const act = await instanceCall(app, inst, "POST", "/v1/auth/activate", {
        license_key: key,
        fingerprint: machine(inst.instanceId),
        nonce: newNonce(),
      });
      expect(act.json().reason).toBe("VALID");
      last = await app.inject({
        method: "POST",
        url: `/v1/portal/devices/${inst.instanceId}/deactivate`,
        headers: { cookie, "x-csrf-token": csrf },
      });
      outcomes.push(last.statusCode);
    }
    expect(outcomes).toEqual([200, 200, 200, 429]);
    expect(last?.json().error.code).toBe("TRANSFER_LIMIT");
    expect(Number(last?.headers["retry-after"])).toBeGreaterThan(0);
    const license = await app.inject({ method: "GET", url: "/v1/portal/license", headers: { cookie } });
    expect(license.json()).toMatchObject({ transfers_used: 3, transfers_max: 3, seats_used: 1 });
  });
});

describe("license extension", () => {
  it("moves the expiry by days past the current one, audited; refuses an expiry in the past", async () => {
    const { id } = await issueLicense();
    const s = await adminSession(["licenses:write"]);
    const before = (await deps.pg.query("SELECT expires_at FROM licenses WHERE id = $1", [id])).rows[0]
      .expires_at;
    const res = await app.inject({
      method: "POST",
      url: `/v1/admin/licenses/${id}/extend`,
      payload: { days: 10 },
      headers: { cookie: s.cookie, "x-csrf-token": s.csrf },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(Date.parse(res.json().expires_at) - (before as Date).getTime()).toBe(10 * 86_400_000);
    const audit = await deps.pg.query(
      "SELECT action, changes FROM audit_log WHERE target_id = $1 ORDER BY id",
      [id],
    );
    expect(audit.rows.map((r) => r.action)).toEqual(["license.issue", "license.extend"]);
    const past = await app.inject({
      method: "POST",
      url: `/v1/admin/licenses/${id}/extend`,
      payload: { expires_at: "2020-01-01T00:00:00Z" },
      headers: { cookie: s.cookie, "x-csrf-token": s.csrf },
    });
    expect([past.statusCode, past.json().error.code]).toEqual([400, "EXPIRY_INVALID"]);
  });
});

describe("instance activity", () => {
  it("shows activations with the fingerprint match, leases, consent and sequence gaps", async () => {
    const { key } = await issueLicense();
    const inst = await registerInstance(app, { quality: true, playback: false });
    const act = await instanceCall(app, inst, "POST", "/v1/auth/activate", {
      license_key: key,
      fingerprint: machine(inst.instanceId),
      nonce: newNonce(),
    });
    expect(act.json().reason).toBe("VALID");
    await deps.redis.set(`${process.env.SMSTATS_REDIS_KEY_PREFIX}seq:${inst.instanceId}:max`, "9");
    await deps.redis.zadd(
      `${process.env.SMSTATS_REDIS_KEY_PREFIX}seq:${inst.instanceId}:missing`,
      4,
      "4",
      5,
      "5",
    );
    const s = await adminSession(["instances:read"]);
    const res = await app.inject({
      method: "GET",
      url: `/v1/admin/instances/${inst.instanceId}/activity`,
      headers: { cookie: s.cookie },
    });
    expect(res.statusCode, res.body).toBe(200);
    const a = res.json();
    expect(a.activations).toHaveLength(1);
    expect(a.activations[0]).toMatchObject({ fingerprint_matches_seat: true, deactivated_at: null });
    expect(a.leases[0]).toMatchObject({ tier: "venue", reason: "VALID" });
    expect(a.consent).toMatchObject({ quality: true, playback: false });
    expect(a.sequence).toEqual({ highest_seq: 9, open_gaps: 2, missing_sample: [4, 5] });
    expect(a.recent_errors).toEqual([]);
  });
});

async function issueLicense(): Promise<{ key: string; id: string }> {
  const s = await adminSession(["licenses:write"]);
  const res = await app.inject({
    method: "POST",
    url: "/v1/admin/licenses",
    payload: { tier: "venue", owner_email: "portal@example.com", days: 30 },
    headers: { cookie: s.cookie, "x-csrf-token": s.csrf },
  });
  expect(res.statusCode, res.body).toBe(201);
  return { key: res.json().key, id: res.json().license.id };
}
