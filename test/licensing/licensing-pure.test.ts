import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../lib/config/index.ts";
import {
  decide,
  fingerprintDigest,
  formatLicenseKey,
  hashLicenseKey,
  licenseKeyHint,
  matchFingerprint,
  newLicenseKey,
  normalizeLicenseKey,
  parseLicenseKey,
  type SeatState,
} from "../../licensing/index.ts";

describe("license keys", () => {
  it("have the shape SM-{LABEL}-{YYYYMMDD}-{20 base32} and pass their own check", () => {
    const key = newLicenseKey("VENUE", new Date("2026-03-04T10:00:00Z"));
    expect(key).toMatch(/^SM-VENUE-20260304-[0-9A-HJKMNP-TV-Z]{20}$/);
    expect(parseLicenseKey(key)).toEqual({ label: "VENUE", date: "20260304", tail: key.slice(-20) });
  });

  it("are different every time (90 random bits)", () => {
    const keys = new Set(Array.from({ length: 2000 }, () => newLicenseKey("PARTY")));
    expect(keys.size).toBe(2000);
  });

  it("catch every single-character typo in the tail but the rare check collision", () => {
    const key = newLicenseKey("PARTY");
    const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let caught = 0;
    let tried = 0;
    for (let i = key.length - 20; i < key.length; i++) {
      for (const c of alphabet) {
        if (c === key[i]) continue;
        tried++;
        if (!parseLicenseKey(`${key.slice(0, i)}${c}${key.slice(i + 1)}`)) caught++;
      }
    }
    // 10 check bits: about 1 in 1024 typos slips through.
    expect(caught / tried).toBeGreaterThan(0.99);
  });

  it("read typed keys the Crockford way: case, O for 0, I and L for 1", () => {
    const key = formatLicenseKey("VENUE", "20260101", "0123456789ABCDEFGH");
    const tail = key.slice(-20);
    const typed = `  ${key.slice(0, -20).toLowerCase()}${tail.replace("0", "o").replace("1", "l").toLowerCase()} `;
    expect(normalizeLicenseKey(typed)).toBe(key);
    expect(hashLicenseKey(typed)).toBe(hashLicenseKey(key));
    expect(licenseKeyHint(key)).toBe(`SM-VENUE-20260101-…${key.slice(-4)}`);
  });

  it("refuse other shapes", () => {
    for (const bad of [
      "",
      "SM-VENUE-2026-ABC",
      "XX-VENUE-20260101-0123456789ABCDEFGHJK",
      "SM-V-20260101-0123456789ABCDEFGHJK",
    ]) {
      expect(parseLicenseKey(bad)).toBeUndefined();
    }
  });
});

describe("fingerprint matching (most match)", () => {
  const stored = { machine_id: "a1", mac: "b1", disk: "c1", hostname: "d1" };
  it.each([
    [{ ...stored }, true, 4],
    [{ ...stored, disk: "c2" }, true, 3],
    [{ ...stored, disk: "c2", mac: "b2" }, true, 2],
    [{ ...stored, disk: "c2", mac: "b2", hostname: "d2" }, false, 1],
    [{ machine_id: "a1" }, false, 1],
    [{ ...stored, extra: "e" }, true, 4],
  ])("%o → ok %s with %i matched", (presented, ok, matched) => {
    expect(matchFingerprint(stored, presented)).toMatchObject({ ok, matched, stored: 4 });
  });

  it("digests the same set the same way whatever the order", () => {
    expect(fingerprintDigest({ a: "1", b: "2" })).toBe(fingerprintDigest({ b: "2", a: "1" }));
    expect(fingerprintDigest({ a: "1", b: "2" })).not.toBe(fingerprintDigest({ a: "1", b: "3" }));
  });
});

describe("decide", () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const seat = (
    over: Partial<NonNullable<SeatState["seat"]>> = {},
    license: Record<string, unknown> = {},
  ): SeatState => ({
    instanceId: "i",
    banned: false,
    seat: {
      activationId: "a",
      lastHeartbeatAt: now - 60_000,
      fingerprintDigest: "d",
      components: { m: "1", n: "2" },
      fingerprintBanned: false,
      endedReason: null,
      license: {
        id: "l",
        keyHash: "k",
        tier: "venue",
        expiresAt: now + 86_400_000,
        revoked: false,
        ...license,
      },
      ...over,
    },
  });
  const reason = (state: SeatState, presented = {}) => {
    const d = decide(state, { keyHash: "k", components: { m: "1", n: "2" }, ...presented }, now, 3_600_000);
    return d.kind === "answer" ? d.reason : d.kind;
  };
  it.each([
    ["VALID", seat(), {}],
    ["BANNED", { ...seat(), banned: true }, {}],
    ["lookup_key", seat(), { keyHash: "other" }],
    ["REVOKED", seat({}, { revoked: true }), {}],
    ["BANNED", seat({ fingerprintBanned: true }), {}],
    ["HEARTBEAT_DEAD", seat({ lastHeartbeatAt: now - 3_600_001 }), {}],
    ["HEARTBEAT_DEAD", seat({ endedReason: "heartbeat_dead" }), {}],
    ["NOT_ACTIVATED", seat({ endedReason: "self" }), {}],
    ["FINGERPRINT_MISMATCH", seat(), { components: { m: "9", n: "8" } }],
    ["VALID", seat(), { components: { m: "1", n: "8" } }],
    ["EXPIRED", seat({}, { expiresAt: now }), {}],
    ["VALID", { instanceId: "i", banned: false, seat: null }, { keyHash: undefined }],
    ["lookup_key", { instanceId: "i", banned: false, seat: null }, {}],
  ])("%s for %o", (expected, state, presented) => {
    expect(reason(state as SeatState, presented)).toBe(expected);
  });
});

describe("the client verifier", () => {
  it("imports nothing but node:crypto and its own files, so instances can ship it as it is", () => {
    const dir = join(repoRoot, "licensing", "client");
    const specifiers = readdirSync(dir)
      .filter((f) => f.endsWith(".ts"))
      .flatMap((f) =>
        [...readFileSync(join(dir, f), "utf8").matchAll(/from "([^"]+)"/g)].map((m) => m[1] as string),
      );
    expect(specifiers.length).toBeGreaterThan(0);
    for (const s of specifiers) expect(s).toMatch(/^(node:crypto|\.\/[a-z-]+\.ts)$/);
  });
});
