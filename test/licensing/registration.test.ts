import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgPool } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import {
  banInstance,
  DEFAULT_CONSENT,
  type KeyRing,
  loadInstanceAuth,
  loadKeyRing,
  loadPiiVault,
  loadSecretBox,
  type PiiVault,
  refreshInstanceToken,
  registerInstance,
  requestSignature,
  type SecretBox,
  setConsent,
  unbanInstance,
  verifyInstanceToken,
  verifyRequestSignature,
} from "../../licensing/index.ts";
import { identityApp } from "./identity-app.ts";
import { tempDataDir } from "./temp-data-dir.ts";

const HWID_PREFIX = `lt-${process.pid}-`;
const data = tempDataDir();
let pool: pg.Pool;
let ring: KeyRing;
let box: SecretBox;
let vault: PiiVault;
let app: FastifyInstance;

beforeAll(async () => {
  pool = createPgPool(loadConfig().postgres.url, "licensing-test", 25);
  ring = await loadKeyRing(data.dir);
  box = await loadSecretBox(data.dir);
  vault = await loadPiiVault(data.dir, box);
  app = await identityApp({ pool, ring, vault });
});
afterAll(async () => {
  await app?.close();
  await pool?.query("DELETE FROM instances WHERE hwid LIKE $1", [`${HWID_PREFIX}%`]);
  await pool?.end();
  data.remove();
});

const newHwid = () => `${HWID_PREFIX}${randomBytes(12).toString("hex")}`;
const body = (hwid: string, extra: Record<string, unknown> = {}) => ({
  hwid,
  platform: "linux",
  version: "1.4.2",
  ...extra,
});
const register = (payload: Record<string, unknown>) =>
  app.inject({ method: "POST", url: "/v1/instances/register", payload });
const refresh = (refreshToken: string) =>
  app.inject({ method: "POST", url: "/v1/auth/refresh", payload: { refresh_token: refreshToken } });

describe("POST /v1/instances/register", () => {
  it("answers 201 with the instance, its tokens, its signing secret and its consent", async () => {
    const res = await register(body(newHwid(), { owner_email: "dj@example.com" }));
    expect(res.statusCode).toBe(201);
    expect(res.headers["cache-control"]).toBe("no-store");
    const r = res.json();
    expect(r).toEqual({
      instance_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      instance_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_expires_at: expect.any(String),
      refresh_token: expect.stringMatching(/^[\w-]{43}$/),
      refresh_token_expires_at: expect.any(String),
      signing_secret: expect.stringMatching(/^[\w-]{43}$/),
      tier: "starter",
      registered_at: expect.any(String),
      // Opt-in: an instance that states no consent has none.
      consent: { quality: false, playback: false, session: false, library: false },
    });
    const claims = await verifyInstanceToken(ring, r.instance_token);
    expect(claims).toMatchObject({ sub: r.instance_id, tier: "starter", scope: "instance" });
    expect(Date.parse(r.token_expires_at)).toBe(claims.exp * 1000);
    const days = (Date.parse(r.refresh_token_expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  it("stores no token and the signing secret only encrypted", async () => {
    const r = (await register(body(newHwid()))).json();
    const { rows } = await pool.query(
      `SELECT i.instance_token, c.signing_secret_enc FROM instances i
       JOIN instance_credentials c ON c.instance_id = i.id WHERE i.id = $1`,
      [r.instance_id],
    );
    expect(rows[0].instance_token).toBeNull();
    const stored: Buffer = rows[0].signing_secret_enc;
    expect(stored.includes(Buffer.from(r.signing_secret, "base64url"))).toBe(false);
    expect(stored).toHaveLength(1 + 12 + 32 + 16);
    const hashes = await pool.query("SELECT token_hash FROM refresh_tokens WHERE instance_id = $1", [
      r.instance_id,
    ]);
    expect(hashes.rows).toHaveLength(1);
    expect(hashes.rows[0].token_hash.toString("base64url")).not.toBe(r.refresh_token);
  });

  it("gives a known hwid its own instance back with new credentials, given proof of possession", async () => {
    const hwid = newHwid();
    const first = (await register(body(hwid))).json();
    const unproven = await register(body(hwid, { version: "6.6.6" }));
    expect([unproven.statusCode, unproven.json().error.code]).toEqual([409, "HWID_IN_USE"]);
    const second = (
      await register(body(hwid, { version: "1.5.0", refresh_token: first.refresh_token }))
    ).json();
    expect(second.instance_id).toBe(first.instance_id);
    expect(second.registered_at).toBe(first.registered_at);
    expect(second.signing_secret).not.toBe(first.signing_secret);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.instance_token).not.toBe(first.instance_token);
    // The first registration's refresh token died with its credentials.
    expect((await refresh(first.refresh_token)).json().error.code).toBe("REFRESH_INVALID");
    const { rows } = await pool.query("SELECT version FROM instances WHERE hwid = $1", [hwid]);
    expect(rows).toEqual([{ version: "1.5.0" }]);
  });

  it("makes one instance of 20 concurrent registrations of one new hwid: the first claims it, the others 409", async () => {
    const hwid = newHwid();
    const responses = await Promise.all(Array.from({ length: 20 }, () => register(body(hwid))));
    const statuses = responses.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([201, ...Array(19).fill(409)]);
    const won = responses.find((r) => r.statusCode === 201)?.json();
    const { rows } = await pool.query("SELECT id FROM instances WHERE hwid = $1", [hwid]);
    expect(rows).toEqual([{ id: won.instance_id }]);
    // The losers changed nothing: the winner's secret is the stored one.
    const auth = await loadInstanceAuth(pool, box, rows[0].id);
    expect(auth?.signingSecret.toString("base64url")).toBe(won.signing_secret);
    const live = await pool.query("SELECT count(*)::int AS n FROM refresh_tokens WHERE instance_id = $1", [
      rows[0].id,
    ]);
    expect(live.rows[0].n).toBe(1);
  });

  it("refuses a banned instance's hwid with 403 INSTANCE_BANNED", async () => {
    const hwid = newHwid();
    const r = (await register(body(hwid))).json();
    expect(await banInstance(pool, r.instance_id, "abuse")).toBe(true);
    const res = await register(body(hwid, { version: "9.9.9" }));
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({ error: { code: "INSTANCE_BANNED", message: expect.any(String) } });
    // The refused registration changed nothing, and the ban revoked the refresh token.
    const { rows } = await pool.query("SELECT version, ban_reason FROM instances WHERE id = $1", [
      r.instance_id,
    ]);
    expect(rows).toEqual([{ version: "1.4.2", ban_reason: "abuse" }]);
    expect((await refresh(r.refresh_token)).json().error.code).toBe("REFRESH_INVALID");
    expect(await unbanInstance(pool, r.instance_id)).toBe(true);
    // Unbanned, the hwid is its instance's again: registering it needs proof like any known hwid.
    expect((await register(body(hwid))).json().error.code).toBe("HWID_IN_USE");
  });

  it("answers 400 INVALID_BODY to a body that breaks the schema", async () => {
    const hwid = newHwid();
    for (const bad of [
      { platform: "linux", version: "1" },
      body(hwid, { hwid: "short" }),
      body(hwid, { hwid: "has spaces in it" }),
      body(hwid, { platform: "" }),
      body(hwid, { owner_email: "not-an-email" }),
      body(hwid, { consent: { playback: "please" } }),
    ]) {
      const res = await register(bad);
      expect([bad, res.statusCode, res.json().error.code]).toEqual([bad, 400, "INVALID_BODY"]);
    }
    const { rowCount } = await pool.query("SELECT 1 FROM instances WHERE hwid = $1", [hwid]);
    expect(rowCount).toBe(0);
  });

  it("ignores unknown fields and consent families, and answers with the consent it recorded", async () => {
    // Fastify strips properties a schema does not name: a newer client still registers with an older server.
    const res = await register(body(newHwid(), { consent: { telemetry: true, playback: true }, extra: 1 }));
    expect(res.statusCode).toBe(201);
    expect(res.json().consent).toEqual({ quality: false, playback: true, session: false, library: false });
  });

  it("records stated consent and keeps it when the instance registers again without any", async () => {
    const hwid = newHwid();
    const first = (await register(body(hwid, { consent: { playback: true, quality: false } }))).json();
    expect(first.consent).toEqual({ quality: false, playback: true, session: false, library: false });
    const again = (await register(body(hwid, { refresh_token: first.refresh_token }))).json();
    expect(again.consent).toEqual(first.consent);
    const changed = (
      await register(body(hwid, { consent: { library: true }, refresh_token: again.refresh_token }))
    ).json();
    expect(changed.consent).toEqual({ quality: false, playback: true, session: false, library: true });
  });
});

describe("POST /v1/auth/refresh", () => {
  it("exchanges a refresh token once for new tokens", async () => {
    const r = (await register(body(newHwid()))).json();
    const res = await refresh(r.refresh_token);
    expect(res.statusCode).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    const next = res.json();
    expect(next).toEqual({
      instance_id: r.instance_id,
      instance_token: expect.any(String),
      token_expires_at: expect.any(String),
      refresh_token: expect.stringMatching(/^[\w-]{43}$/),
      refresh_token_expires_at: expect.any(String),
      tier: "starter",
    });
    expect(next.refresh_token).not.toBe(r.refresh_token);
    expect((await verifyInstanceToken(ring, next.instance_token)).sub).toBe(r.instance_id);
    expect((await refresh(next.refresh_token)).statusCode).toBe(200);
  });

  it("answers 401 REFRESH_INVALID to a reused token and revokes the instance's newer ones", async () => {
    const r = (await register(body(newHwid()))).json();
    const next = (await refresh(r.refresh_token)).json();
    const reuse = await refresh(r.refresh_token);
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().error.code).toBe("REFRESH_INVALID");
    // Whoever holds the newer token (the instance or a thief) lost it too: the instance registers again.
    const newer = await refresh(next.refresh_token);
    expect(newer.statusCode).toBe(401);
    expect(newer.json().error.code).toBe("REFRESH_INVALID");
  });

  it("lets only one of two concurrent exchanges of one token succeed", async () => {
    const r = (await register(body(newHwid()))).json();
    const results = await Promise.all([refresh(r.refresh_token), refresh(r.refresh_token)]);
    expect(results.map((x) => x.statusCode).sort()).toEqual([200, 401]);
  });

  it("answers 401 REFRESH_INVALID to an unknown, malformed or expired token", async () => {
    expect((await refresh(randomBytes(32).toString("base64url"))).json().error.code).toBe("REFRESH_INVALID");
    expect((await refresh("nope")).json().error.code).toBe("REFRESH_INVALID");
    const r = await registerInstance(pool, ring, vault, body(newHwid()), { refreshTtlSeconds: 60 });
    const later = new Date(Date.now() + 61_000);
    await expect(refreshInstanceToken(pool, ring, r.refreshToken, { now: later })).rejects.toMatchObject({
      code: "REFRESH_INVALID",
    });
    // Expired is not reuse: nothing was revoked, and the token still works within its lifetime.
    await expect(refreshInstanceToken(pool, ring, r.refreshToken)).resolves.toMatchObject({
      instanceId: r.instanceId,
    });
  });

  it("answers 403 INSTANCE_BANNED to a banned instance's refresh", async () => {
    const r = await registerInstance(pool, ring, vault, body(newHwid()));
    await pool.query("UPDATE instances SET is_banned = true WHERE id = $1", [r.instanceId]);
    const res = await refresh(r.refreshToken);
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe("INSTANCE_BANNED");
  });

  it("answers 400 INVALID_BODY without a refresh_token", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/auth/refresh", payload: {} });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("INVALID_BODY");
  });
});

describe("loadInstanceAuth", () => {
  it("returns the tier, ban, decrypted signing secret and default consent of a registered instance", async () => {
    const r = (await register(body(newHwid()))).json();
    const auth = await loadInstanceAuth(pool, box, r.instance_id);
    expect(auth).toEqual({
      instanceId: r.instance_id,
      tier: "starter",
      banned: false,
      signingSecret: Buffer.from(r.signing_secret, "base64url"),
      consent: { ...DEFAULT_CONSENT },
    });
    // What the instance signs with the secret it was given verifies with the one the server loads.
    const req = { method: "POST", path: "/v1/stats/batch", timestamp: "1767700800", bodySha256Hex: "00" };
    const signature = requestSignature({ ...req, secret: Buffer.from(r.signing_secret, "base64url") });
    expect(verifyRequestSignature({ ...req, secret: auth?.signingSecret as Buffer, signature })).toBe(true);
  });

  it("reports bans and consent changes", async () => {
    const r = (await register(body(newHwid()))).json();
    expect(await setConsent(pool, r.instance_id, { session: true, quality: false })).toEqual({
      quality: false,
      playback: false,
      session: true,
      library: false,
    });
    await banInstance(pool, r.instance_id, "chargeback");
    expect(await loadInstanceAuth(pool, box, r.instance_id)).toMatchObject({
      banned: true,
      consent: { quality: false, playback: false, session: true, library: false },
    });
  });

  it("returns undefined for an unknown or malformed instance id", async () => {
    expect(await loadInstanceAuth(pool, box, "00000000-0000-4000-8000-000000000000")).toBeUndefined();
    expect(await loadInstanceAuth(pool, box, "abc123")).toBeUndefined();
    expect(await setConsent(pool, "00000000-0000-4000-8000-000000000000", { quality: true })).toBeUndefined();
    expect(await banInstance(pool, "abc123", "x")).toBe(false);
  });

  it("refuses a stored secret sealed for another instance", async () => {
    const a = (await register(body(newHwid()))).json();
    const b = (await register(body(newHwid()))).json();
    await pool.query(
      `UPDATE instance_credentials SET signing_secret_enc =
         (SELECT signing_secret_enc FROM instance_credentials WHERE instance_id = $2) WHERE instance_id = $1`,
      [a.instance_id, b.instance_id],
    );
    await expect(loadInstanceAuth(pool, box, a.instance_id)).rejects.toMatchObject({
      code: "SECRET_BOX_INVALID",
    });
  });
});
