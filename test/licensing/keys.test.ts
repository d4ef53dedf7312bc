import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import {
  createPiiVault,
  createRotatingSecretBox,
  createSecretBox,
  issueInstanceToken,
  keysDir,
  loadKeyRing,
  loadSecretBox,
  rotateSecretBox,
  rotateSigningKey,
  verifyInstanceToken,
} from "../../licensing/index.ts";
import { tempDataDir } from "./temp-data-dir.ts";

const cleanups: (() => void)[] = [];
function dataDir(): string {
  const t = tempDataDir();
  cleanups.push(t.remove);
  return t.dir;
}
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const mode = (path: string) => statSync(path).mode & 0o777;
const subject = { instanceId: "5b0c1a56-7d3e-4a8e-9d55-0a6f4f1d2c3b", tier: "starter" };

describe("signing keys", () => {
  it("generates one Ed25519 key pair at first use and reuses it afterwards", async () => {
    const dir = dataDir();
    const first = await loadKeyRing(dir);
    const second = await loadKeyRing(dir);
    expect(second.current.kid).toBe(first.current.kid);
    expect(first.current.privateKey.algorithm.name).toBe("Ed25519");
    expect(readdirSync(keysDir(dir)).sort()).toEqual(
      [
        `signing-${first.current.kid}.key.pem`,
        `signing-${first.current.kid}.pub.pem`,
        "signing-current",
      ].sort(),
    );
  });

  it("keeps the keys folder at 0700 and every key file at 0600", async () => {
    const dir = dataDir();
    await loadKeyRing(dir);
    await loadSecretBox(dir);
    expect(mode(keysDir(dir))).toBe(0o700);
    const files = readdirSync(keysDir(dir));
    expect(files).toContain("secret-box.key");
    for (const f of files) expect([f, mode(join(keysDir(dir), f))]).toEqual([f, 0o600]);
  });

  it("uses the RFC 7638 JWK thumbprint of the public key as kid", async () => {
    const ring = await loadKeyRing(dataDir());
    const jwk = ring.jwks().keys[0] as { crv: string; kty: string; x: string; kid: string };
    // RFC 7638: the required members in lexicographic order, no whitespace, sha256, base64url.
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
    expect(ring.current.kid).toBe(createHash("sha256").update(canonical).digest("base64url"));
    expect(jwk).toMatchObject({
      kty: "OKP",
      crv: "Ed25519",
      kid: ring.current.kid,
      alg: "EdDSA",
      use: "sig",
    });
    expect(jwk).not.toHaveProperty("d");
  });

  it("agrees on one key when several processes load an empty folder at once", async () => {
    const dir = dataDir();
    const rings = await Promise.all(Array.from({ length: 8 }, () => loadKeyRing(dir)));
    expect(new Set(rings.map((r) => r.current.kid)).size).toBe(1);
    expect(readdirSync(keysDir(dir)).filter((f) => f.endsWith(".pem"))).toHaveLength(2);
  });

  it("rotates to a new signing key while tokens signed by the old one still verify", async () => {
    const dir = dataDir();
    const before = await loadKeyRing(dir);
    const oldToken = await issueInstanceToken(before, subject);
    const after = await rotateSigningKey(dir);
    expect(after.current.kid).not.toBe(before.current.kid);
    expect([...after.verifiers.keys()].sort()).toEqual([before.current.kid, after.current.kid].sort());
    expect((await verifyInstanceToken(after, oldToken)).sub).toBe(subject.instanceId);

    const newToken = await issueInstanceToken(after, subject);
    const header = JSON.parse(Buffer.from(newToken.split(".")[0] as string, "base64url").toString());
    expect(header.kid).toBe(after.current.kid);
    // Old rings accept nothing they do not know: the new key is unknown to them until they reload.
    await expect(verifyInstanceToken(before, newToken)).rejects.toMatchObject({ code: "TOKEN_INVALID" });

    const reloaded = await loadKeyRing(dir);
    expect(reloaded.current.kid).toBe(after.current.kid);
    expect(reloaded.jwks().keys.map((k) => k.kid)).toEqual([after.current.kid, before.current.kid]);
    // The previous key is verify-only: its private half is gone.
    const files = readdirSync(keysDir(dir));
    expect(files).not.toContain(`signing-${before.current.kid}.key.pem`);
    expect(files).toContain(`signing-${before.current.kid}.pub.pem`);
  });

  it("refuses a public key file whose name is not its thumbprint", async () => {
    const dir = dataDir();
    const ring = await loadKeyRing(dir);
    await rotateSigningKey(dir);
    const fake = "A".repeat(43);
    renameSync(
      join(keysDir(dir), `signing-${ring.current.kid}.pub.pem`),
      join(keysDir(dir), `signing-${fake}.pub.pem`),
    );
    await expect(loadKeyRing(dir)).rejects.toMatchObject({ code: "KEYRING_INVALID" });
  });

  it("keeps the production key folder out of git", () => {
    const path = keysDir(loadConfig().dataDir);
    // check-ignore exits 0 only when the path is ignored; it throws otherwise.
    expect(() =>
      execFileSync("git", ["check-ignore", "-q", join(path, "signing-current")], { cwd: repoRoot }),
    ).not.toThrow();
  });
});

describe("secret box", () => {
  it("generates a 32-byte key once and reuses it", async () => {
    const dir = dataDir();
    const box = await loadSecretBox(dir);
    const key = readFileSync(join(keysDir(dir), "secret-box.key"));
    expect(key).toHaveLength(32);
    const sealed = box.seal(Buffer.from("hello"), "ctx");
    expect((await loadSecretBox(dir)).open(sealed, "ctx").toString()).toBe("hello");
    expect(readFileSync(join(keysDir(dir), "secret-box.key")).equals(key)).toBe(true);
  });

  it("stores format byte, nonce, ciphertext and tag, with a fresh nonce each time", () => {
    const box = createSecretBox(randomBytes(32));
    const secret = randomBytes(32);
    const a = box.seal(secret, "ctx");
    const b = box.seal(secret, "ctx");
    expect(a).toHaveLength(1 + 12 + 32 + 16);
    expect(a[0]).toBe(1);
    expect(a.equals(b)).toBe(false);
    expect(box.open(a, "ctx").equals(secret)).toBe(true);
  });

  it("refuses a value that was altered, moved to another context or sealed with another key", () => {
    const box = createSecretBox(randomBytes(32));
    const sealed = box.seal(randomBytes(32), "instance-a");
    const altered = Buffer.from(sealed);
    altered[20] = (altered[20] as number) ^ 1;
    expect(() => box.open(altered, "instance-a")).toThrow(
      expect.objectContaining({ code: "SECRET_BOX_INVALID" }),
    );
    expect(() => box.open(sealed, "instance-b")).toThrow(
      expect.objectContaining({ code: "SECRET_BOX_INVALID" }),
    );
    expect(() => createSecretBox(randomBytes(32)).open(sealed, "instance-a")).toThrow(
      expect.objectContaining({ code: "SECRET_BOX_INVALID" }),
    );
    expect(() => box.open(Buffer.from([1, 2, 3]), "instance-a")).toThrow(
      expect.objectContaining({ code: "SECRET_BOX_INVALID" }),
    );
  });

  it("rotates: new values name the newest key, older keys still open theirs, a missing key is refused", async () => {
    const dir = dataDir();
    const first = await loadSecretBox(dir);
    const old = first.seal(Buffer.from("before"), "ctx");
    expect([old[0], first.keyIdOf(old), first.currentKeyId]).toEqual([1, 0, 0]);
    expect(await rotateSecretBox(dir)).toBe(1);
    const rotated = await loadSecretBox(dir);
    const fresh = rotated.seal(Buffer.from("after"), "ctx");
    expect([fresh[0], rotated.keyIdOf(fresh), rotated.currentKeyId]).toEqual([2, 1, 1]);
    expect(rotated.open(old, "ctx").toString()).toBe("before");
    expect(rotated.open(fresh, "ctx").toString()).toBe("after");
    // A process that never loaded key 1 cannot open what it sealed.
    expect(() => first.open(fresh, "ctx")).toThrow(expect.objectContaining({ code: "SECRET_BOX_INVALID" }));
    const k0 = readFileSync(join(keysDir(dir), "secret-box.key"));
    const k1 = readFileSync(join(keysDir(dir), "secret-box.1.key"));
    expect(
      createRotatingSecretBox(new Map([[1, k1]]))
        .open(fresh, "ctx")
        .toString(),
    ).toBe("after");
    expect(() => createRotatingSecretBox(new Map([[1, k1]])).open(old, "ctx")).toThrow(
      expect.objectContaining({ code: "SECRET_BOX_INVALID" }),
    );
    expect(
      createRotatingSecretBox(new Map([[0, k0]]))
        .open(old, "ctx")
        .toString(),
    ).toBe("before");
  });

  it("gives equal blind indexes to one email in any case, and opens only what it sealed", () => {
    const vault = createPiiVault(createSecretBox(randomBytes(32)), randomBytes(32));
    expect(vault.emailIndex(" Host@Example.COM ")).toEqual(vault.emailIndex("host@example.com"));
    expect(vault.emailIndex("a@example.com").equals(vault.emailIndex("b@example.com"))).toBe(false);
    const other = createPiiVault(createSecretBox(randomBytes(32)), randomBytes(32));
    expect(other.emailIndex("host@example.com").equals(vault.emailIndex("host@example.com"))).toBe(false);
    const sealed = vault.sealEmail("Host@Example.com");
    expect(sealed.includes(Buffer.from("Example"))).toBe(false);
    expect(vault.openEmail(sealed)).toBe("Host@Example.com");
    // An email does not open as an address, nor under another key.
    expect(vault.openAddress(sealed)).toBeNull();
    expect(other.openEmail(sealed)).toBeNull();
  });

  it("refuses a key of the wrong size", () => {
    expect(() => createSecretBox(randomBytes(16))).toThrow(
      expect.objectContaining({ code: "SECRET_BOX_INVALID" }),
    );
  });
});
