import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import {
  type Actor,
  bodySha256Hex,
  createAdminToken,
  hashComponent,
  KeyStore,
  type PublicKeySet,
  requestSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";
import type { TestInstance } from "../support/instance-client.ts";

let last = 0;
const nextTimestamp = () => {
  last = Math.max(Date.now(), last + 1);
  return last;
};

/** A fresh client nonce (128 bits). */
export const newNonce = () => randomBytes(16).toString("base64url");

/** Fingerprint components from raw values, hashed as an instance would. */
export function fingerprint(raw: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, hashComponent(k, v)]));
}

/** A machine's four usual components, distinct per seed. */
export function machine(seed: string): Record<string, string> {
  return fingerprint({
    machine_id: `mid-${seed}`,
    mac: `mac-${seed}`,
    disk: `disk-${seed}`,
    hostname: `host-${seed}`,
  });
}

/** Sends a signed licensing request as the instance (any method), through inject. */
export async function instanceCall(
  app: FastifyInstance,
  inst: TestInstance,
  method: "POST" | "DELETE" | "PUT",
  path: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
) {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  const timestamp = nextTimestamp();
  const headers: Record<string, string> = {
    authorization: `Bearer ${inst.token}`,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: requestSignature({
      secret: inst.secret,
      method,
      path,
      timestamp,
      bodySha256Hex: bodySha256Hex(payload),
    }),
    "user-agent": "SongMartyn/1.2.0 test",
    ...extraHeaders,
  };
  if (body !== undefined) headers["content-type"] = "application/json";
  return app.inject({ method, url: path, headers, payload: body === undefined ? undefined : payload });
}

/** The published keys, as an instance fetches them once and caches them. */
export async function publishedKeys(app: FastifyInstance): Promise<KeyStore> {
  const res = await app.inject({ method: "GET", url: "/v1/keys" });
  return new KeyStore(res.json() as PublicKeySet);
}

/** An admin token with the given scopes, made as the CLI would (audited). */
export async function adminToken(pool: pg.Pool, scopes: string[], name = "test-admin"): Promise<string> {
  const actor: Actor = { name: "cli:test", source: "cli" };
  return (await createAdminToken(pool, actor, { name, scopes: scopes as never })).token;
}
