import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { compress, init } from "@bokuweb/zstd-wasm";
import type { FastifyInstance } from "fastify";
import { AVRO_CONTENT_TYPE } from "../../ingest/plugins/body-parsers.ts";
import { FINGERPRINT_HEADER } from "../../ingest/routes/v1/stats/batch.ts";
import {
  bodySha256Hex,
  requestSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";

/** A registered test instance: what a SongMartyn instance keeps after registration. */
export interface TestInstance {
  instanceId: string;
  token: string;
  refreshToken: string;
  secret: Buffer;
  hwid: string;
}

type Consent = Partial<Record<"quality" | "playback" | "session" | "library", boolean>>;

/**
 * Registers a fresh instance through the API (an app via inject, or a base URL over HTTP), by default
 * consenting to every family.
 */
export async function registerInstance(
  target: FastifyInstance | string,
  consent: Consent = { quality: true, playback: true, session: true, library: true },
): Promise<TestInstance> {
  const hwid = randomUUID().replace(/-/g, "");
  const payload = { hwid, platform: "linux", version: "1.2.0", consent };
  let status: number;
  let body: Record<string, string>;
  if (typeof target === "string") {
    const res = await fetch(`${target}/v1/instances/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
    status = res.status;
    body = (await res.json()) as Record<string, string>;
  } else {
    const res = await target.inject({ method: "POST", url: "/v1/instances/register", payload });
    status = res.statusCode;
    body = res.json();
  }
  if (status !== 201) throw new Error(`registration failed: ${status} ${JSON.stringify(body)}`);
  return {
    instanceId: body.instance_id as string,
    token: body.instance_token as string,
    refreshToken: body.refresh_token as string,
    secret: Buffer.from(body.signing_secret as string, "base64url"),
    hwid,
  };
}

/** How to send a body. */
export interface SendOptions {
  encoding?: "gzip" | "zstd";
  /** An Avro body with its writer fingerprint. */
  avro?: { fingerprint: string };
  /** Unix milliseconds for the signature; now by default. */
  timestamp?: number;
  /** Replace the token (e.g. an expired one) or drop it (null). */
  token?: string | null;
  path?: string;
}

let zstdReady: Promise<void> | undefined;
let lastTimestamp = 0;

// Strictly increasing, so two requests built in the same millisecond still carry different signatures.
function nextTimestamp(): number {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return lastTimestamp;
}

/** Builds the payload and headers of a signed batch request, as an instance would send it. */
export async function signedRequest(instance: TestInstance, body: unknown, opts: SendOptions = {}) {
  let payload: Buffer = opts.avro ? (body as Buffer) : Buffer.from(JSON.stringify(body));
  if (opts.encoding === "gzip") payload = gzipSync(payload);
  if (opts.encoding === "zstd") {
    zstdReady ??= init();
    await zstdReady;
    payload = Buffer.from(compress(payload, 3));
  }
  const path = opts.path ?? "/v1/stats/batch";
  const timestamp = opts.timestamp ?? nextTimestamp();
  const headers: Record<string, string> = {
    "content-type": opts.avro ? AVRO_CONTENT_TYPE : "application/json",
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: requestSignature({
      secret: instance.secret,
      method: "POST",
      path,
      timestamp,
      bodySha256Hex: bodySha256Hex(payload),
    }),
  };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? instance.token}`;
  if (opts.encoding) headers["content-encoding"] = opts.encoding;
  if (opts.avro) headers[FINGERPRINT_HEADER] = opts.avro.fingerprint;
  return { path, payload, headers };
}

/** Posts a signed batch through inject(). */
export async function postBatch(
  app: FastifyInstance,
  instance: TestInstance,
  body: unknown,
  opts: SendOptions = {},
) {
  const r = await signedRequest(instance, body, opts);
  return app.inject({ method: "POST", url: r.path, payload: r.payload, headers: r.headers });
}

/** Posts a signed batch over real HTTP. */
export async function fetchBatch(
  baseUrl: string,
  instance: TestInstance,
  body: unknown,
  opts: SendOptions = {},
) {
  const r = await signedRequest(instance, body, opts);
  return fetch(`${baseUrl}${r.path}`, { method: "POST", body: r.payload, headers: r.headers });
}
