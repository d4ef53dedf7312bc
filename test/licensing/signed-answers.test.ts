import Fastify from "fastify";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAnswers } from "../../ingest/plugins/signed-answers.ts";
import { keysRoute } from "../../ingest/routes/v1/keys/index.ts";
import {
  ANSWER_SIGNATURE_HEADER,
  createAnswerSigner,
  KeyStore,
  loadKeyRing,
  type PublicKeySet,
  rotateSigningKey,
  VerifyError,
  verifyAnswerSignature,
  verifyLease,
  verifyLicenseAnswer,
} from "../../licensing/index.ts";
import { registerInstance, type TestInstance } from "../support/instance-client.ts";
import { instanceCall, machine, newNonce } from "./license-client.ts";
import { type LicensingHarness, licensingHarness } from "./licensing-app.ts";
import { tempDataDir } from "./temp-data-dir.ts";

let h: LicensingHarness;
let inst: TestInstance;
let key: string;
beforeAll(async () => {
  h = await licensingHarness();
  inst = await registerInstance(h.app);
  key = (await h.issue("venue")).key;
  await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: machine(inst.instanceId) });
});
afterAll(async () => h?.close());

/** One recorded validate answer: its raw parts and the nonce it answered. */
async function record() {
  const nonce = newNonce();
  const path = "/v1/auth/validate";
  const res = await instanceCall(h.app, inst, "POST", path, {
    license_key: key,
    nonce,
    fingerprint: machine(inst.instanceId),
  });
  expect(res.statusCode).toBe(200);
  return {
    nonce,
    answer: {
      method: "POST",
      path,
      date: res.headers.date as string,
      signature: res.headers[ANSWER_SIGNATURE_HEADER] as string,
      body: res.rawPayload,
    },
  };
}

const flipByte = (buf: Buffer, at: number) => {
  const copy = Buffer.from(buf);
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
};

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return "accepted";
  } catch (err) {
    return err instanceof VerifyError ? err.code : String(err);
  }
};

describe("signed answers and leases", () => {
  it("verifies an untouched answer and its lease", async () => {
    const { nonce, answer } = await record();
    const { body, lease } = verifyLicenseAnswer(h.keys, answer, { instanceId: inst.instanceId, nonce });
    expect(body.reason).toBe("VALID");
    expect(lease?.tier).toBe("venue");
  });

  it("fails an answer with any one byte of its body changed", async () => {
    const { nonce, answer } = await record();
    const body = answer.body as Buffer;
    // Every position, not a lucky one: a single flipped bit anywhere breaks the signature.
    for (let i = 0; i < body.length; i += 7) {
      const code = codeOf(() =>
        verifyLicenseAnswer(
          h.keys,
          { ...answer, body: flipByte(body, i) },
          { instanceId: inst.instanceId, nonce },
        ),
      );
      expect([i, code]).toEqual([i, "BAD_SIGNATURE"]);
    }
    expect(codeOf(() => verifyAnswerSignature(h.keys, { ...answer, path: "/v1/auth/validatf" }))).toBe(
      "BAD_SIGNATURE",
    );
    expect(
      codeOf(() => verifyAnswerSignature(h.keys, { ...answer, date: "Thu, 01 Jan 2026 00:00:00 GMT" })),
    ).toBe("BAD_SIGNATURE");
  });

  it("fails a lease with any one byte changed", async () => {
    const { nonce, answer } = await record();
    const lease = JSON.parse((answer.body as Buffer).toString()).lease as string;
    expect(verifyLease(h.keys, lease, { instanceId: inst.instanceId, nonce }).nonce).toBe(nonce);
    const bytes = Buffer.from(lease, "ascii");
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let refused = 0;
    let tried = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x2e) continue; // the dots are structure, not content
      const copy = Buffer.from(bytes);
      const c = String.fromCharCode(copy[i] as number);
      // Another base64url character, so the lease still parses and only the signature can catch it.
      copy[i] = alphabet.charCodeAt((alphabet.indexOf(c) + 1) % 64);
      tried++;
      const code = codeOf(() =>
        verifyLease(h.keys, copy.toString("ascii"), { instanceId: inst.instanceId, nonce }),
      );
      if (code !== "accepted") refused++;
    }
    // The last character of each base64url part carries padding bits a decoder ignores; every other change
    // must be refused. (Those padding-only changes decode to the same bytes, so they are not a change.)
    expect(refused).toBeGreaterThanOrEqual(tried - 3);
  });

  it("rejects a recorded answer replayed for a request with another nonce", async () => {
    const { answer } = await record();
    const otherNonce = newNonce();
    expect(
      codeOf(() => verifyLicenseAnswer(h.keys, answer, { instanceId: inst.instanceId, nonce: otherNonce })),
    ).toBe("NONCE_MISMATCH");
    const lease = JSON.parse((answer.body as Buffer).toString()).lease as string;
    expect(codeOf(() => verifyLease(h.keys, lease, { instanceId: inst.instanceId, nonce: otherNonce }))).toBe(
      "NONCE_MISMATCH",
    );
    // And a recording kept too long is stale even for the nonce it answered.
    const later = new Date(Date.now() + 10 * 60_000);
    expect(codeOf(() => verifyAnswerSignature(h.keys, answer, { now: later, maxAgeSeconds: 300 }))).toBe(
      "STALE_ANSWER",
    );
  });

  it("rejects another instance's lease and an answer signed by an unknown key", async () => {
    const { nonce, answer } = await record();
    expect(
      codeOf(() => verifyLicenseAnswer(h.keys, answer, { instanceId: crypto.randomUUID(), nonce })),
    ).toBe("INSTANCE_MISMATCH");
    const data = tempDataDir();
    try {
      const stranger = createAnswerSigner(await loadKeyRing(data.dir));
      const forged = stranger.answer({
        method: "POST",
        path: answer.path,
        date: answer.date,
        body: answer.body,
      });
      expect(codeOf(() => verifyAnswerSignature(h.keys, { ...answer, signature: forged }))).toBe(
        "UNKNOWN_KEY",
      );
    } finally {
      data.remove();
    }
  });

  it("signs refusals of the authentication step", async () => {
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/auth/validate",
      payload: { nonce: newNonce() },
    });
    expect([res.statusCode, res.json().error.code]).toEqual([401, "TOKEN_MISSING"]);
    expect(() =>
      verifyAnswerSignature(h.keys, {
        method: "POST",
        path: "/v1/auth/validate",
        date: res.headers.date as string,
        signature: res.headers[ANSWER_SIGNATURE_HEADER] as string,
        body: res.rawPayload,
      }),
    ).not.toThrow();
  });

  it("signs error answers too", async () => {
    const nonce = newNonce();
    const res = await instanceCall(h.app, inst, "POST", "/v1/auth/validate", { nonce, fingerprint: {} });
    expect(res.statusCode).toBe(400);
    expect(() =>
      verifyAnswerSignature(h.keys, {
        method: "POST",
        path: "/v1/auth/validate",
        date: res.headers.date as string,
        signature: res.headers[ANSWER_SIGNATURE_HEADER] as string,
        body: res.rawPayload,
      }),
    ).not.toThrow();
  });

  it("issues leases any JOSE library verifies with GET /v1/keys", async () => {
    const { answer } = await record();
    const lease = JSON.parse((answer.body as Buffer).toString()).lease as string;
    const jwks = (await h.app.inject({ method: "GET", url: "/v1/keys" })).json();
    const { payload, protectedHeader } = await jwtVerify(lease, createLocalJWKSet(jwks), {
      audience: "songmartyn-instance",
      typ: "lease+jwt",
    });
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(payload.sub).toBe(inst.instanceId);
  });
});

describe("key rotation", () => {
  const data = tempDataDir();
  afterAll(() => data.remove());

  it("keeps leases and answers signed before a rotation verifiable with the new key set", async () => {
    const before = createAnswerSigner(await loadKeyRing(data.dir));
    const lease = before.lease(
      {
        sub: "5b0c1a56-7d3e-4a8e-9d55-0a6f4f1d2c3b",
        lic: null,
        tier: "starter",
        features: [],
        limits: {},
        enforcement: { mode: "graceful", offline_grace_seconds: 60, on_expiry: "starter" },
        fp: null,
        nonce: "n".repeat(22),
        reason: "VALID",
        license_exp: null,
      },
      new Date(Date.now() + 60_000),
    );
    const ring = await rotateSigningKey(data.dir);
    expect(ring.current.kid).not.toBe(before.kid);
    // The rotated ring serves both keys; a fresh app built on it publishes them.
    const app = Fastify();
    signAnswers(app, createAnswerSigner(ring));
    await app.register(keysRoute, { ring });
    const res = await app.inject({ method: "GET", url: "/v1/keys" });
    const keys = new KeyStore(res.json() as PublicKeySet);
    expect((res.json() as PublicKeySet).keys.map((k) => k.kid)).toEqual([ring.current.kid, before.kid]);
    expect(
      verifyLease(keys, lease.token, {
        instanceId: "5b0c1a56-7d3e-4a8e-9d55-0a6f4f1d2c3b",
        nonce: "n".repeat(22),
      }).tier,
    ).toBe("starter");
    // The keys answer itself is signed with the new key and verifies with the set it carries.
    expect(() =>
      verifyAnswerSignature(keys, {
        method: "GET",
        path: "/v1/keys",
        date: res.headers.date as string,
        signature: res.headers[ANSWER_SIGNATURE_HEADER] as string,
        body: res.rawPayload,
      }),
    ).not.toThrow();
    await app.close();
  });
});
