import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatLicenseKey, KEY_ALPHABET, parseLicenseKey } from "../../licensing/index.ts";
import { scrapeMetrics } from "../support/app.ts";
import { registerInstance } from "../support/instance-client.ts";
import { instanceCall, machine, newNonce } from "./license-client.ts";
import { type LicensingHarness, licensingHarness, metricValue } from "./licensing-app.ts";

let h: LicensingHarness;
beforeAll(async () => {
  h = await licensingHarness({
    SMSTATS_LICENSE_KEY_GUESSES: "5",
    SMSTATS_LICENSE_ERRORS_PER_HOUR: "8",
    SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: "1000",
    SMSTATS_LICENSE_MAX_INSTANCES_PER_FINGERPRINT: "2",
  });
  // Counters live for their window (up to an hour): a rerun within it must start from zero.
  const stale = await h.deps.redis.keys(`${h.config.redis.keyPrefix}abuse:*`);
  if (stale.length) await h.deps.redis.del(...stale);
});
afterAll(async () => h?.close());

const abuse = async (rule: string) =>
  metricValue((await scrapeMetrics(h.config, h.deps)).body, "smstats_licensing_abuse_total", { rule });

/** A well-formed key (valid check characters) with a random tail. */
const randomKey = (label = "VENUE") => {
  let tail = "";
  for (const b of randomBytes(18)) tail += KEY_ALPHABET[b & 31];
  return formatLicenseKey(label, "20260101", tail);
};

/** A request from its own address, so the per-address counters of one test do not touch another's. */
const fromAddress = (ip: string) => ({ remoteAddress: ip });

describe("abuse prevention", () => {
  it("answers NOT_FOUND to keys of the right shape with a random tail", async () => {
    const inst = await registerInstance(h.app);
    for (let i = 0; i < 3; i++) {
      const key = randomKey();
      expect(parseLicenseKey(key)).toBeDefined();
      const answer = await h.ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: machine("x") });
      expect(answer).toMatchObject({ valid: false, reason: "NOT_FOUND", tier: "starter" });
    }
  });

  it("answers NOT_FOUND to a key with a typo, which the client can also tell offline", async () => {
    const inst = await registerInstance(h.app);
    const { key } = await h.issue();
    const typo = `${key.slice(0, -5)}${key.at(-5) === "A" ? "B" : "A"}${key.slice(-4)}`;
    expect(parseLicenseKey(typo)).toBeUndefined();
    expect(parseLicenseKey(key.toLowerCase())).toBeDefined();
    const answer = await h.ask(inst, "/v1/auth/activate", {
      license_key: typo,
      fingerprint: machine("typo"),
    });
    expect(answer.reason).toBe("NOT_FOUND");
  });

  it("throttles many wrong keys from one address: 429 KEY_GUESSING with Retry-After, counted", async () => {
    const before = await abuse("key_guessing");
    const ip = `10.9.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    // Different instances from one address: registering more instances does not buy more guesses.
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof h.app.inject>> | undefined;
    for (let i = 0; i < 8; i++) {
      const inst = await registerInstance(h.app);
      const path = "/v1/auth/activate";
      const body = { license_key: randomKey(), nonce: newNonce(), fingerprint: machine(String(i)) };
      last = await signedFrom(inst, path, body, ip);
      statuses.push(last.statusCode);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(last?.json().error.code).toBe("KEY_GUESSING");
    expect(Number(last?.headers["retry-after"])).toBeGreaterThan(0);
    expect(Number(last?.headers["retry-after"])).toBeLessThanOrEqual(600);
    expect((await abuse("key_guessing")) - before).toBe(3);
    // Another address is not affected.
    const other = await registerInstance(h.app);
    const ok = await signedFrom(
      other,
      "/v1/auth/validate",
      { license_key: randomKey(), nonce: newNonce(), fingerprint: machine("o") },
      "10.8.0.2",
    );
    expect(ok.statusCode).toBe(200);
    // The flag names the address by its keyed tag, never in clear.
    const { rows } = await h.deps.pg.query("SELECT rule FROM abuse_flags WHERE subject = $1", [
      `ip:${h.deps.vault.addressTag(ip)}`,
    ]);
    expect(rows).toEqual([{ rule: "key_guessing" }]);
  });

  it("throttles an instance whose requests keep failing: 429 TOO_MANY_ERRORS, counted", async () => {
    const before = await abuse("instance_errors");
    const inst = await registerInstance(h.app);
    const { key } = await h.issue();
    // Fingerprint mismatches are failures that involve no unknown key.
    const activated = await h.ask(inst, "/v1/auth/activate", {
      license_key: key,
      fingerprint: machine(inst.instanceId),
    });
    expect(activated.reason).toBe("VALID");
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await instanceCall(h.app, inst, "POST", "/v1/auth/validate", {
        license_key: key,
        nonce: newNonce(),
        fingerprint: machine(`other-${inst.instanceId}`),
      });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) expect(res.json().error.code).toBe("TOO_MANY_ERRORS");
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429, 429]);
    expect((await abuse("instance_errors")) - before).toBe(2);
  });

  it("flags and refuses the same fingerprint on too many instances (cloning), counted", async () => {
    const before = await abuse("fingerprint_clones");
    const { key } = await h.issue("venue");
    const cloned = machine(`clone-${randomBytes(4).toString("hex")}`);
    const reasons = [];
    for (let i = 0; i < 3; i++) {
      const inst = await registerInstance(h.app);
      reasons.push(
        (await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: cloned })).reason,
      );
    }
    expect(reasons).toEqual(["VALID", "VALID", "FINGERPRINT_CLONED"]);
    expect((await abuse("fingerprint_clones")) - before).toBe(1);
    const { rows } = await h.deps.pg.query(
      "SELECT count(*)::int AS n FROM abuse_flags WHERE rule = 'fingerprint_clones'",
    );
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
  });

  it("refuses a banned hwid at registration, and a banned fingerprint under a new hwid; both counted", async () => {
    const hwidBefore = await abuse("banned_hwid");
    const fpBefore = await abuse("banned_fingerprint");
    const inst = await registerInstance(h.app);
    const { key } = await h.issue();
    const fp = machine(`banned-${inst.instanceId}`);
    await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: fp });
    const ban = await h.adminCall("POST", `/v1/admin/instances/${inst.instanceId}/ban`, {
      reason: "resale",
      fingerprint: true,
    });
    expect(ban.statusCode).toBe(200);
    const again = await h.app.inject({
      method: "POST",
      url: "/v1/instances/register",
      payload: { hwid: inst.hwid, platform: "linux", version: "1.2.0" },
    });
    expect([again.statusCode, again.json().error.code]).toEqual([403, "INSTANCE_BANNED"]);
    expect((await abuse("banned_hwid")) - hwidBefore).toBe(1);
    // Same machine, new hwid: registers, but cannot activate.
    const twin = await registerInstance(h.app);
    const { key: key2 } = await h.issue();
    expect((await h.ask(twin, "/v1/auth/activate", { license_key: key2, fingerprint: fp })).reason).toBe(
      "BANNED",
    );
    expect((await abuse("banned_fingerprint")) - fpBefore).toBe(1);
  });

  it("limits registrations per address per hour: 429 REGISTRATIONS_LIMITED, counted", async () => {
    const small = await licensingHarness({ SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: "3" });
    try {
      const ip = `10.7.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
      const statuses = [];
      let last: Awaited<ReturnType<typeof small.app.inject>> | undefined;
      for (let i = 0; i < 5; i++) {
        last = await small.app.inject({
          method: "POST",
          url: "/v1/instances/register",
          payload: { hwid: randomBytes(12).toString("hex"), platform: "linux", version: "1" },
          ...fromAddress(ip),
        });
        statuses.push(last.statusCode);
      }
      expect(statuses).toEqual([201, 201, 201, 429, 429]);
      expect(last?.json().error.code).toBe("REGISTRATIONS_LIMITED");
      expect(Number(last?.headers["retry-after"])).toBeGreaterThan(3000);
      const text = (await scrapeMetrics(small.config, small.deps)).body;
      expect(metricValue(text, "smstats_licensing_abuse_total", { rule: "registrations_per_address" })).toBe(
        2,
      );
    } finally {
      await small.close();
    }
  });

  it("counts requests over the per-minute limit on licensing routes", async () => {
    const tight = await licensingHarness({ SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=3" });
    try {
      const inst = await registerInstance(tight.app);
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const res = await instanceCall(tight.app, inst, "POST", "/v1/auth/validate", {
          nonce: newNonce(),
          fingerprint: machine("rpm"),
        });
        statuses.push(res.statusCode);
        if (res.statusCode === 429) expect(res.headers["retry-after"]).toBeDefined();
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      const text = (await scrapeMetrics(tight.config, tight.deps)).body;
      expect(metricValue(text, "smstats_licensing_abuse_total", { rule: "requests_per_minute" })).toBe(2);
    } finally {
      await tight.close();
    }
  });

  it("exposes every abuse rule in /metrics from the start", async () => {
    const text = (await scrapeMetrics(h.config, h.deps)).body;
    for (const rule of [
      "key_guessing",
      "instance_errors",
      "registrations_per_address",
      "requests_per_minute",
      "banned_hwid",
      "banned_fingerprint",
      "fingerprint_clones",
    ]) {
      expect(text).toContain(`smstats_licensing_abuse_total{rule="${rule}"`);
    }
  });
});

/** A signed request from a given address. */
async function signedFrom(
  inst: Awaited<ReturnType<typeof registerInstance>>,
  path: string,
  body: Record<string, unknown>,
  ip: string,
) {
  const { bodySha256Hex, requestSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } = await import(
    "../../licensing/index.ts"
  );
  const payload = Buffer.from(JSON.stringify(body));
  const timestamp = Date.now();
  return h.app.inject({
    method: "POST",
    url: path,
    payload,
    remoteAddress: ip,
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${inst.token}`,
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: requestSignature({
        secret: inst.secret,
        method: "POST",
        path,
        timestamp,
        bodySha256Hex: bodySha256Hex(payload),
      }),
    },
  });
}
