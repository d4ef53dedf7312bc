import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  bodySha256Hex,
  isFreshTimestamp,
  newSigningSecret,
  requestSignature,
  verifyRequestSignature,
} from "../../licensing/index.ts";

// A fixed vector, for SDKs in other languages to test against.
const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const body = '{"instance_id":"5b0c1a56-7d3e-4a8e-9d55-0a6f4f1d2c3b","metrics":[]}';
const request = {
  secret,
  method: "post",
  path: "/v1/stats/batch?compat=1",
  timestamp: "1767700800",
  bodySha256Hex: createHash("sha256").update(body).digest("hex"),
};

describe("request signatures", () => {
  it("is base64url HMAC-SHA256 over METHOD, path, timestamp and body digest, one per line", () => {
    const independent = createHmac("sha256", secret)
      .update(
        `POST\n/v1/stats/batch?compat=1\n1767700800\n${createHash("sha256").update(body).digest("hex")}`,
      )
      .digest("base64url");
    expect(requestSignature(request)).toBe(independent);
    // The same vector computed with openssl (dgst -sha256 -mac HMAC -macopt hexkey:0001…1f).
    expect(requestSignature(request)).toBe("nYKGIGmfonVfEqJkPf5FwofjnWkBasKMxj0RCfTe6vc");
    expect(requestSignature({ ...request, timestamp: 1767700800 })).toBe(independent);
    expect(bodySha256Hex(body)).toBe("b47c734293b9e8b844213a6ccdcb83edec55811bd732a504df17f6a36755662c");
  });

  it("verifies a matching signature", () => {
    expect(verifyRequestSignature({ ...request, signature: requestSignature(request) })).toBe(true);
  });

  it("fails when the method, path, timestamp, body digest or secret differs", () => {
    const signature = requestSignature(request);
    const changes = [
      { method: "PUT" },
      { path: "/v1/stats/batch" },
      { path: "/v1/stats/batch?compat=2" },
      { timestamp: "1767700801" },
      { bodySha256Hex: bodySha256Hex(`${body} `) },
      { secret: newSigningSecret() },
    ];
    for (const change of changes) {
      expect([change, verifyRequestSignature({ ...request, ...change, signature })]).toEqual([change, false]);
    }
  });

  it("fails for a missing, truncated or non-base64url signature", () => {
    const signature = requestSignature(request);
    expect(verifyRequestSignature({ ...request, signature: undefined })).toBe(false);
    expect(verifyRequestSignature({ ...request, signature: "" })).toBe(false);
    expect(verifyRequestSignature({ ...request, signature: signature.slice(0, -2) })).toBe(false);
    expect(verifyRequestSignature({ ...request, signature: `${signature}=` })).toBe(false);
    expect(
      verifyRequestSignature({ ...request, signature: `${signature.slice(0, 20)}!${signature.slice(20)}` }),
    ).toBe(false);
  });

  it("accepts a timestamp only as decimal unix milliseconds within the window", () => {
    const now = new Date(1767700800 * 1000);
    const opts = { windowSeconds: 300, now };
    expect(isFreshTimestamp("1767700800000", opts)).toBe(true);
    expect(isFreshTimestamp("1767701100000", opts)).toBe(true);
    expect(isFreshTimestamp("1767700500000", opts)).toBe(true);
    expect(isFreshTimestamp("1767701100001", opts)).toBe(false);
    expect(isFreshTimestamp("1767700499999", opts)).toBe(false);
    for (const bad of [
      undefined,
      "",
      "1767700800000.5",
      "-1",
      "0x10",
      " 1767700800000",
      "1767700800",
      "17677008000000000",
    ]) {
      expect([bad, isFreshTimestamp(bad, opts)]).toEqual([bad, false]);
    }
  });
});
