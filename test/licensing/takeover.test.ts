import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ANSWER_SIGNATURE_HEADER,
  bodySha256Hex,
  formatLicenseKey,
  hwidDigest,
  KEY_ALPHABET,
  requestSignature,
  verifyLicenseAnswer,
} from "../../licensing/index.ts";
import { scrapeMetrics, seedBody } from "../support/app.ts";
import { registerInstance, signedRequest, type TestInstance } from "../support/instance-client.ts";
import { machine, newNonce } from "./license-client.ts";
import { type LicensingHarness, licensingHarness, metricValue } from "./licensing-app.ts";

const LIMITS = { starter: 40, party_host: 70, venue: 90 };
const BAD_SIGNATURES = 30;
const GUESSES = 5;
const PREFIX_GUESSES = 8;
const ERROR_REPORTS = 5;

let h: LicensingHarness;
beforeAll(async () => {
  h = await licensingHarness({
    SMSTATS_INGEST_RATE_LIMIT_TIERS: Object.entries(LIMITS)
      .map(([t, n]) => `${t}=${n}`)
      .join(","),
    SMSTATS_INGEST_BAD_SIGNATURES_PER_MIN: String(BAD_SIGNATURES),
    // These tests judge authentication's answers, not load shedding: a flood of 1,000 requests on a busy
    // machine must not be answered 503 for event-loop delay (shedding has its own tests).
    SMSTATS_INGEST_MAX_EVENT_LOOP_DELAY_MS: "60000",
    // Long enough that only the published invalidation can explain a tier change seen within a second.
    SMSTATS_INGEST_IDENTITY_CACHE_MS: "60000",
    SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: "100000",
    SMSTATS_LICENSE_KEY_GUESSES: String(GUESSES),
    SMSTATS_ABUSE_MAX_ERROR_REPORTS_PER_HOUR: String(ERROR_REPORTS),
    SMSTATS_ABUSE_SUSPICIOUS_PATTERNS: JSON.stringify([
      { name: "evil_agent", field: "user_agent", pattern: "EvilBot", flags: "i", action: "refuse" },
      { name: "odd_version", field: "version", pattern: "^0\\.0\\.", action: "flag" },
      { name: "test_hwid", field: "hwid", pattern: "^deadbeef", action: "flag" },
    ]),
    SMSTATS_LICENSE_KEY_GUESSES_PER_PREFIX: String(PREFIX_GUESSES),
  });
});
afterAll(async () => h?.close());

/** A random address in 10/8, so per-address counters of one test (or a rerun) never meet another's. */
const randomAddress = () => `10.${[0, 0, 0].map(() => Math.floor(Math.random() * 250) + 1).join(".")}`;

async function postFrom(inst: TestInstance, address: string) {
  const r = await signedRequest(inst, seedBody(inst.instanceId));
  return h.app.inject({
    method: "POST",
    url: r.path,
    payload: r.payload,
    headers: r.headers,
    remoteAddress: address,
  });
}

describe("a stolen token without its secret", () => {
  it("sends 1,000 badly signed requests: refused 401 then 429 by address, and the owner's next request is 202", async () => {
    const owner = await registerInstance(h.app);
    const thief: TestInstance = { ...owner, secret: randomBytes(32) };
    const address = randomAddress();
    const codes = new Map<string, number>();
    let retryAfter: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const res = await postFrom(thief, address);
      const code = `${res.statusCode} ${res.json().error?.code}`;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (res.statusCode === 429) retryAfter = res.headers["retry-after"] as string;
    }
    console.log("1,000 badly signed requests:", Object.fromEntries(codes));
    expect(Object.fromEntries(codes)).toEqual({
      "401 SIGNATURE_INVALID": BAD_SIGNATURES,
      "429 SIGNATURES_LIMITED": 1000 - BAD_SIGNATURES,
    });
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    // Not one of them counted against the instance: its quota (40 a minute) is whole.
    const next = await postFrom(owner, randomAddress());
    expect(next.statusCode, next.body).toBe(202);
    expect(next.headers["ratelimit-remaining"]).toBe(String(LIMITS.starter - 1));
  });

  it("spread over many addresses (each under the address limit) still leaves the owner at 202", async () => {
    const owner = await registerInstance(h.app);
    const thief: TestInstance = { ...owner, secret: randomBytes(32) };
    for (let a = 0; a < 10; a++) {
      const address = randomAddress();
      for (let i = 0; i < 10; i++) expect((await postFrom(thief, address)).statusCode).toBe(401);
    }
    const next = await postFrom(owner, randomAddress());
    expect(next.statusCode, next.body).toBe(202);
    expect(next.headers["ratelimit-remaining"]).toBe(String(LIMITS.starter - 1));
  });

  it("still meets the instance's own limit with verified requests: 429 RATE_LIMITED with Retry-After", async () => {
    const owner = await registerInstance(h.app);
    const address = randomAddress();
    const statuses: number[] = [];
    for (let i = 0; i < LIMITS.starter + 2; i++) statuses.push((await postFrom(owner, address)).statusCode);
    expect(statuses.filter((s) => s === 202)).toHaveLength(LIMITS.starter);
    const over = await postFrom(owner, address);
    expect(over.statusCode).toBe(429);
    expect(over.json().error.code).toBe("RATE_LIMITED");
    expect(Number(over.headers["retry-after"])).toBeGreaterThan(0);
  });
});

describe("the rate-limit tier", () => {
  it("follows an upgrade and a revoke within a second, not the token's tier", async () => {
    const inst = await registerInstance(h.app);
    const address = randomAddress();
    const limitNow = async () => {
      const res = await postFrom(inst, address);
      expect(res.statusCode, res.body).toBe(202);
      return Number(res.headers["ratelimit-limit"]);
    };
    expect(await limitNow()).toBe(LIMITS.starter);
    const { key, license } = await h.issue("venue");
    expect(
      (await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: machine(inst.instanceId) }))
        .reason,
    ).toBe("VALID");
    // The token still says starter; the limit follows the instance's current tier.
    const within = async (want: number) => {
      const t0 = performance.now();
      let seen = 0;
      while (performance.now() - t0 < 1000) {
        seen = await limitNow();
        if (seen === want) break;
      }
      return { seen, ms: performance.now() - t0 };
    };
    const up = await within(LIMITS.venue);
    expect(up.seen).toBe(LIMITS.venue);
    const revoked = await h.adminCall("POST", `/v1/admin/licenses/${license.id}/revoke`, { reason: "test" });
    expect(revoked.statusCode).toBe(200);
    const down = await within(LIMITS.starter);
    console.log(
      `rate-limit tier: upgrade seen after ${up.ms.toFixed(1)} ms, revoke after ${down.ms.toFixed(1)} ms`,
    );
    expect(down.seen).toBe(LIMITS.starter);
    expect(down.ms).toBeLessThan(1000);
  });
});

/** POST /v1/instances/register with a body and optional headers, from an address of its own. */
async function register(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return h.app.inject({
    method: "POST",
    url: "/v1/instances/register",
    payload: { platform: "linux", version: "1.2.0", ...body },
    headers,
    remoteAddress: randomAddress(),
  });
}

/** The credentials of a 201 registration answer, as a test instance. */
function credentials(res: { json(): Record<string, string> }, hwid: string): TestInstance {
  const b = res.json();
  return {
    instanceId: b.instance_id as string,
    token: b.instance_token as string,
    refreshToken: b.refresh_token as string,
    secret: Buffer.from(b.signing_secret as string, "base64url"),
    hwid,
  };
}

/** The register request signed with an instance's secret, as the SDK proves possession. */
function signedRegisterHeaders(secret: Buffer, body: Record<string, unknown>) {
  const payload = JSON.stringify({ platform: "linux", version: "1.2.0", ...body });
  const timestamp = Date.now();
  return {
    payload,
    headers: {
      "content-type": "application/json",
      "x-sm-timestamp": String(timestamp),
      "x-sm-signature": requestSignature({
        secret,
        method: "POST",
        path: "/v1/instances/register",
        timestamp,
        bodySha256Hex: bodySha256Hex(Buffer.from(payload)),
      }),
    },
  };
}

const hwidInUse = async () =>
  metricValue((await scrapeMetrics(h.config, h.deps)).body, "smstats_licensing_abuse_total", {
    rule: "hwid_in_use",
  });

describe("no instance takeover", () => {
  it("a second client with a known hwid and no proof gets 409 HWID_IN_USE, the owner keeps working, the license key recovers it", async () => {
    const owner = await registerInstance(h.app);
    const { key } = await h.issue("party_host");
    const fp = machine(owner.instanceId);
    expect((await h.ask(owner, "/v1/auth/activate", { license_key: key, fingerprint: fp })).reason).toBe(
      "VALID",
    );
    const before = await hwidInUse();

    const attempts = [
      register({ hwid: owner.hwid }),
      register({ hwid: owner.hwid, refresh_token: `${owner.refreshToken.slice(0, -2)}xx` }),
      register({ hwid: owner.hwid, license_key: (await h.issue("party_host")).key }),
      (() => {
        const forged = signedRegisterHeaders(randomBytes(32), { hwid: owner.hwid });
        return h.app.inject({
          method: "POST",
          url: "/v1/instances/register",
          payload: forged.payload,
          headers: forged.headers,
        });
      })(),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().error.code).toBe("HWID_IN_USE");
    }
    expect((await hwidInUse()) - before).toBe(4);

    // The owner's credentials were not touched.
    expect((await postFrom(owner, randomAddress())).statusCode).toBe(202);
    expect((await h.ask(owner, "/v1/auth/validate", { license_key: key, fingerprint: fp })).reason).toBe(
      "VALID",
    );

    // An owner who lost everything but the license key recovers the same instance, seat included.
    const recovered = await register({ hwid: owner.hwid, license_key: key });
    expect(recovered.statusCode, recovered.body).toBe(201);
    const again = credentials(recovered, owner.hwid);
    expect(again.instanceId).toBe(owner.instanceId);
    expect((await postFrom(again, randomAddress())).statusCode).toBe(202);
    expect((await h.ask(again, "/v1/auth/validate", { license_key: key, fingerprint: fp })).reason).toBe(
      "VALID",
    );
    // Whoever held the old credentials is out.
    const old = await postFrom(owner, randomAddress());
    expect(old.statusCode).toBe(401);
    expect(old.json().error.code).toBe("SIGNATURE_INVALID");
  });

  it("re-registers with the current secret's signature or the refresh token (what the SDK sends)", async () => {
    const owner = await registerInstance(h.app);
    const signed = signedRegisterHeaders(owner.secret, { hwid: owner.hwid });
    const bySignature = await h.app.inject({
      method: "POST",
      url: "/v1/instances/register",
      payload: signed.payload,
      headers: signed.headers,
    });
    expect(bySignature.statusCode, bySignature.body).toBe(201);
    const second = credentials(bySignature, owner.hwid);
    expect(second.instanceId).toBe(owner.instanceId);
    // The same signed request replayed no longer proves anything: the secret it was made with is gone.
    const replay = await h.app.inject({
      method: "POST",
      url: "/v1/instances/register",
      payload: signed.payload,
      headers: signed.headers,
    });
    expect(replay.statusCode).toBe(409);
    const byRefresh = await register({ hwid: owner.hwid, refresh_token: second.refreshToken });
    expect(byRefresh.statusCode, byRefresh.body).toBe(201);
    const third = credentials(byRefresh, owner.hwid);
    expect(third.instanceId).toBe(owner.instanceId);
    expect((await postFrom(third, randomAddress())).statusCode).toBe(202);
    // A used refresh token proves nothing.
    expect((await register({ hwid: owner.hwid, refresh_token: second.refreshToken })).statusCode).toBe(409);
  });

  it("an admin reset (audited) lets the next registration of the hwid claim the instance, once", async () => {
    const owner = await registerInstance(h.app);
    const reset = await h.adminCall("POST", `/v1/admin/instances/${owner.instanceId}/reset-registration`, {
      reason: "owner lost the machine's data",
    });
    expect(reset.statusCode, reset.body).toBe(200);
    // The old credentials stop at once.
    const old = await postFrom(owner, randomAddress());
    expect(old.statusCode).toBe(401);
    expect(old.json().error.code).toBe("INSTANCE_UNKNOWN");
    const claimed = await register({ hwid: owner.hwid });
    expect(claimed.statusCode, claimed.body).toBe(201);
    expect(claimed.json().instance_id).toBe(owner.instanceId);
    expect((await postFrom(credentials(claimed, owner.hwid), randomAddress())).statusCode).toBe(202);
    expect((await register({ hwid: owner.hwid })).statusCode).toBe(409);
    const audit = await h.deps.pg.query(
      "SELECT actor, changes FROM audit_log WHERE action = 'instance.reset_registration' AND target_id = $1",
      [owner.instanceId],
    );
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0].changes).toMatchObject({
      reason: "owner lost the machine's data",
      signing_secret_removed: true,
    });
  });
});

/** A well-formed key (valid check characters) with a random tail, under a given prefix. */
function guessKey(prefix: string): string {
  const [, label, date] = prefix.split("-") as [string, string, string];
  let tail = "";
  for (const b of randomBytes(18)) tail += KEY_ALPHABET[b & 31];
  return formatLicenseKey(label, date, tail);
}

/** A signed licensing request from an address. */
async function licensingFrom(
  inst: TestInstance,
  path: string,
  body: Record<string, unknown>,
  address: string,
) {
  const payload = Buffer.from(JSON.stringify({ ...body, nonce: newNonce() }));
  const timestamp = Date.now() + Math.floor(Math.random() * 1000);
  return h.app.inject({
    method: "POST",
    url: path,
    payload,
    remoteAddress: address,
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${inst.token}`,
      "x-sm-timestamp": String(timestamp),
      "x-sm-signature": requestSignature({
        secret: inst.secret,
        method: "POST",
        path,
        timestamp,
        bodySha256Hex: bodySha256Hex(payload),
      }),
    },
  });
}

describe("key guessing", () => {
  it("is throttled per address, and the honest venue behind the same address still validates and activates its real key", async () => {
    const nat = randomAddress();
    const venue = await registerInstance(h.app);
    const { key } = await h.issue("venue");
    const fp = machine(venue.instanceId);
    const activated = await licensingFrom(
      venue,
      "/v1/auth/activate",
      { license_key: key, fingerprint: fp },
      nat,
    );
    expect(activated.json().reason).toBe("VALID");
    // A guesser behind the same NAT, under a prefix of its own so only the address limit applies.
    const guesser = await registerInstance(h.app);
    const prefix = `SM-VENUE-2024${String(1 + Math.floor(Math.random() * 12)).padStart(2, "0")}15`;
    const statuses: number[] = [];
    for (let i = 0; i < GUESSES + 3; i++) {
      const res = await licensingFrom(
        guesser,
        "/v1/auth/validate",
        { license_key: guessKey(prefix), fingerprint: machine("g") },
        nat,
      );
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        expect(res.json().error.code).toBe("KEY_GUESSING");
        expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([...Array(GUESSES).fill(200), 429, 429, 429]);
    // The honest venue, same address, real key: validates, and a second machine of it activates.
    const valid = await licensingFrom(venue, "/v1/auth/validate", { license_key: key, fingerprint: fp }, nat);
    expect(valid.statusCode, valid.body).toBe(200);
    expect(valid.json().reason).toBe("VALID");
    const second = await registerInstance(h.app);
    const { key: key2 } = await h.issue("party_host");
    const act = await licensingFrom(
      second,
      "/v1/auth/activate",
      { license_key: key2, fingerprint: machine(second.instanceId) },
      nat,
    );
    expect(act.statusCode, act.body).toBe(200);
    expect(act.json().reason).toBe("VALID");
    // A wrong key from that address is still refused.
    const wrong = await licensingFrom(
      venue,
      "/v1/auth/validate",
      { license_key: guessKey(prefix), fingerprint: fp },
      nat,
    );
    expect(wrong.statusCode).toBe(429);
  });

  it("is throttled per key prefix across addresses, and a real key with that prefix still passes", async () => {
    const { key } = await h.issue("venue");
    const prefix = key.split("-").slice(0, 3).join("-");
    await h.deps.redis.del(
      `${h.config.redis.keyPrefix}abuse:key_guessing_prefix:${h.deps.vault.addressTag(prefix)}`,
    );
    const guesser = await registerInstance(h.app);
    const statuses: number[] = [];
    for (let i = 0; i < PREFIX_GUESSES + 2; i++) {
      const res = await licensingFrom(
        guesser,
        "/v1/auth/validate",
        { license_key: guessKey(prefix), fingerprint: machine("p") },
        randomAddress(),
      );
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([...Array(PREFIX_GUESSES).fill(200), 429, 429]);
    const owner = await registerInstance(h.app);
    const res = await licensingFrom(
      owner,
      "/v1/auth/activate",
      { license_key: key, fingerprint: machine(owner.instanceId) },
      randomAddress(),
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().reason).toBe("VALID");
  });
});

/** Verifies a signed licensing answer as the design's client would: signature, age, instance, lease. */
function verifiedDesignAnswer(
  res: Awaited<ReturnType<typeof licensingFrom>>,
  inst: TestInstance,
  path: string,
) {
  expect(res.statusCode, res.body).toBe(200);
  // The design's client sent no nonce: the answer carries the server's, which the signature covers.
  const nonce = res.json().nonce as string;
  return verifyLicenseAnswer(
    h.keys,
    {
      method: "POST",
      path,
      date: res.headers.date as string,
      signature: res.headers[ANSWER_SIGNATURE_HEADER] as string,
      body: res.rawPayload,
    },
    { instanceId: inst.instanceId, nonce },
  );
}

/** A signed request with exactly the given body (no nonce added). */
async function designCall(inst: TestInstance, path: string, body: Record<string, unknown>) {
  const payload = Buffer.from(JSON.stringify(body));
  const timestamp = Date.now() + Math.floor(Math.random() * 1000);
  return h.app.inject({
    method: "POST",
    url: path,
    payload,
    remoteAddress: randomAddress(),
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${inst.token}`,
      "x-sm-timestamp": String(timestamp),
      "x-sm-signature": requestSignature({
        secret: inst.secret,
        method: "POST",
        path,
        timestamp,
        bodySha256Hex: bodySha256Hex(payload),
      }),
    },
  });
}

describe("the design's own bodies", () => {
  it("validate with exactly the design's fields is answered 200 and signed, the lease bound to the hwid and saying so", async () => {
    const inst = await registerInstance(h.app);
    const { key, license } = await h.issue("party_host");
    expect(
      (await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: machine(inst.instanceId) }))
        .reason,
    ).toBe("VALID");
    const body = { license_key: key, instance_id: inst.instanceId, hwid: inst.hwid, version: "1.2.0" };
    const res = await designCall(inst, "/v1/auth/validate", body);
    const { body: answer, lease } = verifiedDesignAnswer(res, inst, "/v1/auth/validate");
    expect(answer).toMatchObject({
      valid: true,
      reason: "VALID",
      tier: "party_host",
      license_id: license.id,
      binding: { lease: "hwid", nonce: "server" },
    });
    expect(lease).toMatchObject({ bind: "hwid", fp: hwidDigest(inst.hwid), tier: "party_host" });
    // The strong form says so too.
    const strong = await h.ask(inst, "/v1/auth/validate", {
      license_key: key,
      fingerprint: machine(inst.instanceId),
    });
    expect(strong.binding).toEqual({ lease: "fingerprint", nonce: "client" });
    // Another machine's hwid in the design's body is not this instance.
    const other = await designCall(inst, "/v1/auth/validate", { ...body, hwid: "0123456789abcdef" });
    expect(verifiedDesignAnswer(other, inst, "/v1/auth/validate").body.reason).toBe("FINGERPRINT_MISMATCH");
    // Without a key (the instance's own seat) as well.
    const own = await designCall(inst, "/v1/auth/validate", {
      instance_id: inst.instanceId,
      hwid: inst.hwid,
    });
    expect(verifiedDesignAnswer(own, inst, "/v1/auth/validate").body.reason).toBe("VALID");
    // Error codes stay as they were: a body naming another instance.
    const mismatch = await designCall(inst, "/v1/auth/validate", { ...body, instance_id: randomUUID() });
    expect([mismatch.statusCode, mismatch.json().error.code]).toEqual([403, "INSTANCE_MISMATCH"]);
  });

  it("heartbeats with the design's session_stats are answered 200 and signed, and the figures kept", async () => {
    const inst = await registerInstance(h.app);
    const { key } = await h.issue("venue");
    await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: machine(inst.instanceId) });
    const stats = { session_id: "s-1", uptime_seconds: 3600, users_current: 12, songs_played: 40, rooms: 2 };
    const res = await designCall(inst, "/v1/auth/heartbeat", {
      instance_id: inst.instanceId,
      session_stats: stats,
    });
    const { body } = verifiedDesignAnswer(res, inst, "/v1/auth/heartbeat");
    expect(body).toMatchObject({
      continue: true,
      reason: "VALID",
      tier: "venue",
      binding: { nonce: "server" },
    });
    const kept = await h.deps.pg.query("SELECT stats FROM instance_session_stats WHERE instance_id = $1", [
      inst.instanceId,
    ]);
    expect(kept.rows[0].stats).toMatchObject(stats);
  });
});

describe("abuse rules the design names", () => {
  const errorBatch = (inst: TestInstance, errors: number, others: number) => ({
    instance_id: inst.instanceId,
    timestamp: new Date(Date.now() - 60_000).toISOString(),
    metrics: [
      ...Array.from({ length: errors }, (_, i) => ({
        name: i % 2 ? "websocket_errors" : "error_count_by_type",
        value: 1,
        tags: i % 2 ? {} : { type: "youtube_download" },
      })),
      ...Array.from({ length: others }, () => ({ name: "uptime_seconds", value: 60 })),
    ],
  });
  const post = async (inst: TestInstance, body: unknown) => {
    const r = await signedRequest(inst, body);
    return h.app.inject({ method: "POST", url: r.path, payload: r.payload, headers: r.headers });
  };
  const abuseCount = async (rule: string) =>
    metricValue((await scrapeMetrics(h.config, h.deps)).body, "smstats_licensing_abuse_total", {
      rule,
    });

  it("MaxErrorReportsPerHour: error reports over the limit are dropped and counted, the batch still accepted", async () => {
    const inst = await registerInstance(h.app);
    const before = await abuseCount("error_reports_per_hour");
    const first = await post(inst, errorBatch(inst, ERROR_REPORTS + 2, 1));
    expect(first.statusCode, first.body).toBe(202);
    expect(first.json().accepted).toBe(ERROR_REPORTS + 1);
    expect(first.headers["sm-dropped-error-reports"]).toBe("2");
    const second = await post(inst, errorBatch(inst, 3, 2));
    expect(second.statusCode).toBe(202);
    expect(second.json().accepted).toBe(2);
    expect(second.headers["sm-dropped-error-reports"]).toBe("3");
    // Only error reports, all over the limit: accepted, nothing stored.
    const third = await post(inst, errorBatch(inst, 2, 0));
    expect([third.statusCode, third.json().accepted]).toEqual([202, 0]);
    expect((await abuseCount("error_reports_per_hour")) - before).toBe(7);
    // Another instance has its own allowance.
    const other = await registerInstance(h.app);
    const fresh = await post(other, errorBatch(other, 2, 0));
    expect([fresh.statusCode, fresh.json().accepted]).toEqual([202, 2]);
    expect(fresh.headers["sm-dropped-error-reports"]).toBeUndefined();
  });
});

describe("suspicious patterns", () => {
  const suspicious = async (rule: string, action: string) =>
    metricValue((await scrapeMetrics(h.config, h.deps)).body, "smstats_licensing_suspicious_total", {
      rule,
      action,
    });

  it("counts each configured pattern by rule; a flag rule records the subject and lets it through, a refuse rule answers 403", async () => {
    const before = {
      agent: await suspicious("evil_agent", "refuse"),
      version: await suspicious("odd_version", "flag"),
      hwid: await suspicious("test_hwid", "flag"),
    };
    const address = randomAddress();
    const flagged = await h.app.inject({
      method: "POST",
      url: "/v1/instances/register",
      payload: { hwid: `deadbeef${randomUUID().replace(/-/g, "")}`, platform: "linux", version: "0.0.1" },
      remoteAddress: address,
    });
    expect(flagged.statusCode, flagged.body).toBe(201);
    expect((await suspicious("odd_version", "flag")) - before.version).toBe(1);
    expect((await suspicious("test_hwid", "flag")) - before.hwid).toBe(1);
    const flags = await h.deps.pg.query("SELECT rule FROM abuse_flags WHERE subject = $1 ORDER BY rule", [
      address,
    ]);
    expect(flags.rows.map((r) => r.rule)).toEqual(["suspicious:odd_version", "suspicious:test_hwid"]);

    const refused = await h.app.inject({
      method: "POST",
      url: "/v1/instances/register",
      payload: { hwid: randomUUID().replace(/-/g, ""), platform: "linux", version: "1.2.0" },
      headers: { "user-agent": "Mozilla/5.0 (compatible; evilbot/2.1)" },
      remoteAddress: randomAddress(),
    });
    expect([refused.statusCode, refused.json().error.code]).toEqual([403, "SUSPICIOUS_CLIENT"]);
    // On instance requests too (the user agent), before the body is read.
    const inst = await registerInstance(h.app);
    const r = await signedRequest(inst, seedBody(inst.instanceId));
    const batch = await h.app.inject({
      method: "POST",
      url: r.path,
      payload: r.payload,
      headers: { ...r.headers, "user-agent": "EvilBot" },
    });
    expect([batch.statusCode, batch.json().error.code]).toEqual([403, "SUSPICIOUS_CLIENT"]);
    expect((await suspicious("evil_agent", "refuse")) - before.agent).toBe(2);
    // An ordinary client is untouched.
    expect((await postFrom(inst, randomAddress())).statusCode).toBe(202);
  });
});
