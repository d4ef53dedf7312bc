import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearerToken,
  createTokenVerifier,
  issueInstanceToken,
  type KeyRing,
  loadKeyRing,
  verifyInstanceToken,
} from "../../licensing/index.ts";
import { tempDataDir } from "./temp-data-dir.ts";

const dirs = [tempDataDir(), tempDataDir()];
let ring: KeyRing;
let otherRing: KeyRing;
beforeAll(async () => {
  ring = await loadKeyRing((dirs[0] as { dir: string }).dir);
  otherRing = await loadKeyRing((dirs[1] as { dir: string }).dir);
});
afterAll(() => {
  for (const d of dirs) d.remove();
});

const subject = { instanceId: "5b0c1a56-7d3e-4a8e-9d55-0a6f4f1d2c3b", tier: "party_host" };
const T0 = new Date("2026-01-06T12:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const part = (token: string, i: number) =>
  JSON.parse(Buffer.from(token.split(".")[i] as string, "base64url").toString());
const code = (c: string) => expect.objectContaining({ code: c });

describe("instance tokens", () => {
  it("carries EdDSA with the signing kid and the instance's claims", async () => {
    const token = await issueInstanceToken(ring, subject, { ttlSeconds: 600, now: T0 });
    expect(part(token, 0)).toEqual({ alg: "EdDSA", kid: ring.current.kid, typ: "instance+jwt" });
    const claims = await verifyInstanceToken(ring, token, { now: at(1) });
    expect(claims).toEqual({
      iss: "smstats",
      aud: "smstats-ingest",
      sub: subject.instanceId,
      tier: "party_host",
      scope: "instance",
      iat: T0.getTime() / 1000,
      exp: T0.getTime() / 1000 + 600,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it("gives every token its own jti and a one-hour lifetime by default", async () => {
    const a = part(await issueInstanceToken(ring, subject), 1);
    const b = part(await issueInstanceToken(ring, subject), 1);
    expect(a.jti).not.toBe(b.jti);
    expect(a.exp - a.iat).toBe(3600);
  });

  it("rejects an expired token with TOKEN_EXPIRED, after the clock tolerance", async () => {
    const token = await issueInstanceToken(ring, subject, { ttlSeconds: 60, now: T0 });
    await expect(
      verifyInstanceToken(ring, token, { now: at(60 + 29), clockToleranceSec: 30 }),
    ).resolves.toBeTruthy();
    await expect(
      verifyInstanceToken(ring, token, { now: at(60 + 30), clockToleranceSec: 30 }),
    ).rejects.toThrow(code("TOKEN_EXPIRED"));
  });

  it("rejects a tampered payload or signature with TOKEN_INVALID", async () => {
    const token = await issueInstanceToken(ring, subject, { now: T0 });
    const [h, p, s] = token.split(".") as [string, string, string];
    const payload = Buffer.from(JSON.stringify({ ...part(token, 1), tier: "venue" })).toString("base64url");
    await expect(verifyInstanceToken(ring, `${h}.${payload}.${s}`, { now: T0 })).rejects.toThrow(
      code("TOKEN_INVALID"),
    );
    const sig = Buffer.from(s, "base64url");
    sig[10] = (sig[10] as number) ^ 0x01;
    await expect(
      verifyInstanceToken(ring, `${h}.${p}.${sig.toString("base64url")}`, { now: T0 }),
    ).rejects.toThrow(code("TOKEN_INVALID"));
  });

  it("rejects a token signed by a key outside the ring with TOKEN_INVALID", async () => {
    const token = await issueInstanceToken(otherRing, subject);
    await expect(verifyInstanceToken(ring, token)).rejects.toThrow(code("TOKEN_INVALID"));
  });

  it("rejects a token for another audience, issuer, type or scope with TOKEN_INVALID", async () => {
    const sign = (claims: Record<string, unknown>, typ = "instance+jwt") =>
      new SignJWT({ tier: "starter", scope: "instance", ...claims })
        .setProtectedHeader({ alg: "EdDSA", kid: ring.current.kid, typ })
        .setSubject(subject.instanceId)
        .setIssuedAt()
        .setExpirationTime("1h")
        .setJti("j")
        .sign(ring.current.privateKey);
    const good = { iss: "smstats", aud: "smstats-ingest" };
    await expect(verifyInstanceToken(ring, await sign(good))).resolves.toBeTruthy();
    for (const bad of [
      await sign({ ...good, aud: "smstats-admin" }),
      await sign({ ...good, iss: "someone" }),
      await sign({ ...good, scope: "admin" }),
      await sign(good, "lease+jwt"),
    ]) {
      await expect(verifyInstanceToken(ring, bad)).rejects.toThrow(code("TOKEN_INVALID"));
    }
  });

  it("rejects a token with alg none or a shared-secret alg with TOKEN_INVALID", async () => {
    const token = await issueInstanceToken(ring, subject);
    const [, p] = token.split(".") as [string, string];
    const none = Buffer.from(
      JSON.stringify({ alg: "none", kid: ring.current.kid, typ: "instance+jwt" }),
    ).toString("base64url");
    await expect(verifyInstanceToken(ring, `${none}.${p}.AAAA`)).rejects.toThrow(code("TOKEN_INVALID"));
    const hs = Buffer.from(
      JSON.stringify({ alg: "HS256", kid: ring.current.kid, typ: "instance+jwt" }),
    ).toString("base64url");
    await expect(verifyInstanceToken(ring, `${hs}.${p}.AAAA`)).rejects.toThrow(code("TOKEN_INVALID"));
  });

  it("rejects garbage with TOKEN_MALFORMED and nothing with TOKEN_MISSING", async () => {
    for (const garbage of ["abc", "a.b", "a.b.c.d", "not a token at all", "x".repeat(5000), "e30.e30.!!"]) {
      await expect(verifyInstanceToken(ring, garbage)).rejects.toThrow(code("TOKEN_MALFORMED"));
    }
    // Three base64url parts whose header is not JSON.
    await expect(verifyInstanceToken(ring, "Zm9v.YmFy.YmF6")).rejects.toThrow(code("TOKEN_MALFORMED"));
    await expect(verifyInstanceToken(ring, undefined)).rejects.toThrow(code("TOKEN_MISSING"));
    await expect(verifyInstanceToken(ring, "")).rejects.toThrow(code("TOKEN_MISSING"));
  });

  it("reads the token of an Authorization: Bearer header", () => {
    expect(bearerToken("Bearer abc.def.ghi")).toBe("abc.def.ghi");
    expect(bearerToken("bearer abc")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken("Bearer")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe("token verifier cache", () => {
  it("returns the cached claims for a token it verified before", async () => {
    const verifier = createTokenVerifier(ring, { cacheSize: 10, clock: () => at(1) });
    const token = await issueInstanceToken(ring, subject, { now: T0 });
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toBe(first);
    expect(second).toEqual(await verifyInstanceToken(ring, token, { now: at(1) }));
    expect(verifier.size).toBe(1);
  });

  it("still rejects a cached token once it expires", async () => {
    let now = at(1);
    const verifier = createTokenVerifier(ring, { clockToleranceSec: 30, clock: () => now });
    const token = await issueInstanceToken(ring, subject, { ttlSeconds: 60, now: T0 });
    await verifier.verify(token);
    now = at(60 + 29);
    await expect(verifier.verify(token)).resolves.toBeTruthy();
    now = at(60 + 30);
    await expect(verifier.verify(token)).rejects.toThrow(code("TOKEN_EXPIRED"));
    expect(verifier.size).toBe(0);
  });

  it("evicts the least recently used token beyond its size", async () => {
    const verifier = createTokenVerifier(ring, { cacheSize: 2, clock: () => at(1) });
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => issueInstanceToken(ring, subject, { now: T0 })));
    const claimsA = await verifier.verify(a);
    const claimsB = await verifier.verify(b);
    await verifier.verify(a); // a is now the most recent; b goes first
    await verifier.verify(c);
    expect(verifier.size).toBe(2);
    expect(await verifier.verify(a)).toBe(claimsA);
    expect(await verifier.verify(b)).not.toBe(claimsB);
  });

  it("does not cache what it rejects", async () => {
    const verifier = createTokenVerifier(ring, { clock: () => at(1) });
    await expect(verifier.verify("abc")).rejects.toThrow(code("TOKEN_MALFORMED"));
    await expect(verifier.verify(await issueInstanceToken(otherRing, subject, { now: T0 }))).rejects.toThrow(
      code("TOKEN_INVALID"),
    );
    await expect(verifier.verify(undefined)).rejects.toThrow(code("TOKEN_MISSING"));
    expect(verifier.size).toBe(0);
  });
});
