import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import {
  type CryptoKey,
  calculateJwkThumbprint,
  importPKCS8,
  importSPKI,
  type JSONWebKeySet,
  type JWK,
} from "jose";
import {
  ensureKeysDir,
  isAlreadyExists,
  isMissing,
  publishKeyFile,
  writeNewKeyFile,
} from "../../lib/keys/index.ts";
import { LicensingError } from "../errors.ts";

/** The JWS algorithm of every token and lease this service signs (Ed25519). */
export const SIGNING_ALG = "EdDSA";

/** The key that signs new tokens, imported once so no request pays for parsing a PEM. */
export interface SigningKey {
  /** RFC 7638 JWK thumbprint (SHA-256) of the public key; the "kid" header of what it signs. */
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** The signing key plus every public key still accepted, by kid (the current one included). */
export interface KeyRing {
  current: SigningKey;
  verifiers: ReadonlyMap<string, CryptoKey>;
  /** The public keys as a JWKS (current first), for instances that verify leases offline. */
  jwks(): JSONWebKeySet;
}

// keys/signing-current names the signing kid; each key is signing-<kid>.pub.pem (+ .key.pem while current).
const CURRENT_FILE = "signing-current";
const PUBLIC_FILE = /^signing-([A-Za-z0-9_-]{43})\.pub\.pem$/;
const publicFile = (kid: string) => `signing-${kid}.pub.pem`;
const privateFile = (kid: string) => `signing-${kid}.key.pem`;

async function thumbprint(publicKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(publicKey.export({ format: "jwk" }) as JWK, "sha256");
}

async function readCurrentKid(dir: string): Promise<string | undefined> {
  try {
    const kid = (await readFile(join(dir, CURRENT_FILE), "utf8")).trim();
    if (!/^[A-Za-z0-9_-]{43}$/.test(kid)) {
      throw new LicensingError("KEYRING_INVALID", `${dir}/${CURRENT_FILE} does not hold a key id`);
    }
    return kid;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

async function generateSigningKey(dir: string): Promise<string> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const kid = await thumbprint(publicKey);
  await writeNewKeyFile(join(dir, publicFile(kid)), publicKey.export({ type: "spki", format: "pem" }));
  await writeNewKeyFile(join(dir, privateFile(kid)), privateKey.export({ type: "pkcs8", format: "pem" }));
  return kid;
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

async function readRing(dir: string, currentKid: string): Promise<KeyRing> {
  const verifiers = new Map<string, CryptoKey>();
  const jwks: JWK[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const kid = PUBLIC_FILE.exec(name)?.[1];
    if (!kid) continue;
    let pem: string;
    try {
      pem = await readFile(join(dir, name), "utf8");
    } catch (err) {
      // A process that lost the first-use race removes its key again; a vanished file is no verifier.
      if (isMissing(err)) continue;
      throw err;
    }
    const publicKey = parseKey(() => createPublicKey(pem), `${dir}/${name}`);
    // The file name is the kid tokens carry: a file renamed or swapped must not verify under another id.
    if ((await thumbprint(publicKey)) !== kid) {
      throw new LicensingError("KEYRING_INVALID", `${dir}/${name}: the key does not match its key id`);
    }
    verifiers.set(kid, await importSPKI(pem, SIGNING_ALG));
    const jwk = { ...(publicKey.export({ format: "jwk" }) as JWK), kid, alg: SIGNING_ALG, use: "sig" };
    if (kid === currentKid) jwks.unshift(jwk);
    else jwks.push(jwk);
  }
  const publicKey = verifiers.get(currentKid);
  if (!publicKey) {
    throw new LicensingError("KEYRING_INVALID", `${dir}: no public key for the current key ${currentKid}`);
  }
  const privatePath = join(dir, privateFile(currentKid));
  let privatePem: string;
  try {
    privatePem = await readFile(privatePath, "utf8");
  } catch (err) {
    throw new LicensingError("KEYRING_INVALID", `${privatePath}: cannot read the current signing key`, {
      cause: err,
    });
  }
  const derived = parseKey(() => createPublicKey(createPrivateKey(privatePem)), privatePath);
  if ((await thumbprint(derived)) !== currentKid) {
    throw new LicensingError("KEYRING_INVALID", `${privatePath}: the key does not match its key id`);
  }
  const set: JSONWebKeySet = Object.freeze({
    keys: Object.freeze(jwks.map((k) => Object.freeze(k))),
  }) as JSONWebKeySet;
  return Object.freeze({
    current: Object.freeze({
      kid: currentKid,
      privateKey: await importPKCS8(privatePem, SIGNING_ALG),
      publicKey,
    }),
    verifiers,
    jwks: () => set,
  });
}

function parseKey(parse: () => KeyObject, path: string): KeyObject {
  try {
    const key = parse();
    if (key.asymmetricKeyType !== "ed25519")
      throw new Error(`expected an Ed25519 key, found ${key.asymmetricKeyType}`);
    return key;
  } catch (err) {
    throw new LicensingError("KEYRING_INVALID", `${path}: not a usable Ed25519 key`, { cause: err });
  }
}

/**
 * Loads the signing keys of <dataDir>/keys, generating the first key pair when there is none. Two
 * processes starting at once on one folder end up with the same key: only one "current" link can win.
 */
export async function loadKeyRing(dataDir: string): Promise<KeyRing> {
  const dir = await ensureKeysDir(dataDir);
  let kid = await readCurrentKid(dir);
  if (kid === undefined) {
    const generated = await generateSigningKey(dir);
    try {
      await publishKeyFile(join(dir, CURRENT_FILE), `${generated}\n`, false);
      kid = generated;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // Another process generated one first: drop ours, use theirs.
      await removeIfPresent(join(dir, privateFile(generated)));
      await removeIfPresent(join(dir, publicFile(generated)));
      kid = await readCurrentKid(dir);
      if (kid === undefined) throw new LicensingError("KEYRING_INVALID", `${dir}: the current key vanished`);
    }
  }
  return readRing(dir, kid);
}

/**
 * Makes a new key pair the signing key and keeps the previous public keys for verification, so tokens
 * signed before the rotation stay valid until they expire. The previous private key is deleted: a
 * verify-only key can never sign again. Processes holding a ring loaded earlier keep signing with the old
 * key (still accepted) until they reload. Not meant to run concurrently with itself.
 */
export async function rotateSigningKey(dataDir: string): Promise<KeyRing> {
  const dir = await ensureKeysDir(dataDir);
  const previous = await readCurrentKid(dir);
  const kid = await generateSigningKey(dir);
  await publishKeyFile(join(dir, CURRENT_FILE), `${kid}\n`, true);
  if (previous !== undefined && previous !== kid) await removeIfPresent(join(dir, privateFile(previous)));
  return readRing(dir, kid);
}
