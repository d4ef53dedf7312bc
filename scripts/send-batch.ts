import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../lib/config/index.ts";
import { bodySha256Hex, requestSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from "../licensing/index.ts";

// `npm run send [-- body.json]`: posts a telemetry batch to the running ingest as a SongMartyn instance
// would: registers a development instance once (credentials kept in <data>/dev-instance.json, which is
// git-ignored), then signs and sends the body. Without a file it sends the seed's example batch.
const config = loadConfig();
const base = `http://${config.ingest.host}:${config.ingest.port}`;
const credsFile = join(config.dataDir, "dev-instance.json");

interface Creds {
  hwid: string;
  instance_id: string;
  instance_token: string;
  token_expires_at: string;
  signing_secret: string;
}

/** Registers; a known hwid again only with proof of possession: the request signed with its secret. */
async function register(hwid: string, secret?: string): Promise<Creds> {
  const body = JSON.stringify({
    hwid,
    platform: process.platform,
    version: "dev",
    consent: { quality: true, playback: true, session: true, library: true },
  });
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (secret) {
    const timestamp = Date.now();
    headers[TIMESTAMP_HEADER] = String(timestamp);
    headers[SIGNATURE_HEADER] = requestSignature({
      secret: Buffer.from(secret, "base64url"),
      method: "POST",
      path: "/v1/instances/register",
      timestamp,
      bodySha256Hex: bodySha256Hex(body),
    });
  }
  const res = await fetch(`${base}/v1/instances/register`, { method: "POST", headers, body });
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`);
  const creds = { hwid, ...((await res.json()) as Omit<Creds, "hwid">) };
  writeFileSync(credsFile, JSON.stringify(creds, null, 2), { mode: 0o600 });
  return creds;
}

let creds: Creds;
try {
  creds = JSON.parse(readFileSync(credsFile, "utf8")) as Creds;
  // Registering the same hwid again, signed with its secret, returns the same instance with fresh credentials.
  if (Date.parse(creds.token_expires_at) - Date.now() < 60_000) {
    creds = await register(creds.hwid, creds.signing_secret);
  }
} catch {
  creds = await register(randomUUID().replace(/-/g, ""));
}

const file = process.argv[2];
const body = file
  ? JSON.parse(readFileSync(file, "utf8"))
  : {
      instance_id: "abc123",
      timestamp: "2026-01-06T12:00:00Z",
      metrics: [
        { name: "songs_played_total", value: 42, tags: { source: "youtube" } },
        { name: "users_peak_concurrent", value: 15 },
      ],
    };
// The token's instance is the only one this client may report for.
body.instance_id = creds.instance_id;
const payload = Buffer.from(JSON.stringify(body));
const timestamp = Date.now();
const res = await fetch(`${base}/v1/stats/batch`, {
  method: "POST",
  headers: {
    "content-type": "application/json",
    authorization: `Bearer ${creds.instance_token}`,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: requestSignature({
      secret: Buffer.from(creds.signing_secret, "base64url"),
      method: "POST",
      path: "/v1/stats/batch",
      timestamp,
      bodySha256Hex: bodySha256Hex(payload),
    }),
  },
  body: payload,
});
console.log(`${res.status} ${await res.text()}`);
console.log(`instance_id ${creds.instance_id}`);
process.exit(res.status === 202 ? 0 : 1);
