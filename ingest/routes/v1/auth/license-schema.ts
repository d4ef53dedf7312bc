import { errorBodySchema } from "../../../../lib/http/index.ts";
import type { SessionStats } from "../../../../licensing/index.ts";

const fingerprintSchema = {
  type: "object",
  description:
    "fingerprint components by name (e.g. machine_id, mac, disk, hostname), each the hex sha256 of the raw " +
    "value as licensing/client's hashComponent makes it; raw values never leave the machine",
  minProperties: 1,
  maxProperties: 16,
  propertyNames: { pattern: "^[a-z][a-z0-9_]{0,31}$" },
  additionalProperties: { type: "string", pattern: "^[0-9A-Za-z_-]{16,128}$" },
} as const;

const nonceSchema = {
  type: "string",
  pattern: "^[A-Za-z0-9_-]{16,128}$",
  description: "fresh random value per request (≥ 96 bits, base64url); echoed in the signed answer and lease",
} as const;

/**
 * Body of validate and activate: the seed's fields plus a nonce and the fingerprint. Validate also takes
 * the design's own body (license_key, instance_id, hwid, version, without nonce or fingerprint): it is
 * answered with the weaker binding stated in the answer's `binding`.
 */
export interface LicenseBody {
  license_key?: string;
  instance_id?: string;
  hwid?: string;
  version?: string;
  nonce?: string;
  fingerprint?: Record<string, string>;
}

/** Body of a heartbeat (the design's: instance_id and session_stats; nonce and fingerprint optional). */
export interface HeartbeatRequestBody {
  instance_id?: string;
  nonce?: string;
  fingerprint?: Record<string, string>;
  session_stats?: SessionStats;
}

const count = (description: string) =>
  ({ type: "integer", minimum: 0, maximum: 2 ** 31, description }) as const;

/** The design's session_stats of a heartbeat: the party as it is now; every field optional. */
export const sessionStatsSchema = {
  type: "object",
  additionalProperties: false,
  description:
    "the instance's current session figures (kept per instance as the latest report; the telemetry " +
    "stream carries the detail)",
  properties: {
    session_id: { type: "string", maxLength: 128 },
    uptime_seconds: count("seconds since the instance started"),
    session_duration_sec: count("seconds since the current session started"),
    users_current: count("guests connected now"),
    users_joined_total: count("guests who joined this session"),
    users_peak_concurrent: count("most guests connected at once this session"),
    songs_played: count("songs played this session"),
    songs_skipped: count("songs skipped this session"),
    songs_queued: count("songs waiting in the queue now"),
    rooms: count("rooms open now"),
  },
} as const;

const licenseBody = (keyRequired: boolean) =>
  ({
    type: "object",
    required: keyRequired ? ["license_key", "nonce", "fingerprint"] : [],
    additionalProperties: false,
    properties: {
      license_key: {
        type: "string",
        minLength: 1,
        maxLength: 64,
        description:
          "SM-{TIER}-{YYYYMMDD}-{tail}; omitted, the instance's own seat (or Starter) is validated",
      },
      instance_id: { type: "string", format: "uuid", description: "must be the token's instance when given" },
      hwid: {
        type: "string",
        maxLength: 64,
        description:
          "the design's field: the token decides the instance; when given without a fingerprint it must be the " +
          "instance's registered hwid (else FINGERPRINT_MISMATCH)",
      },
      version: { type: "string", maxLength: 32 },
      nonce: nonceSchema,
      fingerprint: fingerprintSchema,
    },
  }) as const;

const answerProperties = {
  valid: { type: "boolean" },
  reason: {
    type: "string",
    enum: [
      "VALID",
      "NOT_FOUND",
      "NOT_ACTIVATED",
      "EXPIRED",
      "REVOKED",
      "BANNED",
      "TOO_MANY_INSTANCES",
      "FINGERPRINT_MISMATCH",
      "FINGERPRINT_CLONED",
      "HEARTBEAT_DEAD",
    ],
  },
  message: { type: "string" },
  tier: { type: "string", description: "the tier the instance runs as now (Starter unless VALID)" },
  license_tier: { type: ["string", "null"] },
  license_id: { type: ["string", "null"] },
  expires: { type: ["string", "null"], format: "date-time", description: "the license's expiry" },
  features: { type: "array", items: { type: "string" } },
  limits: { type: "object", additionalProperties: { type: ["number", "null"] } },
  enforcement: {
    type: "object",
    required: ["mode", "offline_grace_seconds", "on_expiry"],
    properties: {
      mode: { type: "string", enum: ["strict", "graceful"] },
      offline_grace_seconds: { type: "integer" },
      on_expiry: { type: "string" },
    },
  },
  instance_id: { type: "string" },
  nonce: { type: "string" },
  lease: {
    type: ["string", "null"],
    description:
      "Ed25519 JWS (typ lease+jwt) verifiable offline with GET /v1/keys; null when the instance must stop",
  },
  lease_expires_at: { type: ["string", "null"], format: "date-time" },
  issued_at: { type: "string", format: "date-time" },
  binding: {
    type: "object",
    required: ["lease", "nonce"],
    description:
      "what the answer is bound to. lease: fingerprint (the strong form), hwid (the design's validate body " +
      "without a fingerprint: only the registered hwid, which a cloned machine id also presents), none. " +
      "nonce: client (yours: a recorded answer cannot be replayed to you) or server (no nonce was sent: the " +
      "server chose one, so a replayed answer is only bounded by its age)",
    properties: {
      lease: { type: "string", enum: ["fingerprint", "hwid", "none"] },
      nonce: { type: "string", enum: ["client", "server"] },
    },
  },
} as const;

const answerSchema = {
  type: "object",
  required: Object.keys(answerProperties),
  properties: answerProperties,
} as const;

const signedNote =
  ' Every answer (errors included) is signed: `Sm-Signature: kid=…, alg="ed25519", sig=…` over ' +
  "METHOD\\nPATH\\nDATE\\nSHA256_HEX(body) with the `Date` header; verify with licensing/client.";

const errors = { "4xx": errorBodySchema, "5xx": errorBodySchema } as const;

/** Route schema of POST /v1/auth/validate. */
export const validateRouteSchema = {
  summary: "Validate a license",
  description:
    "Answers whether the instance may use its license now, with a reason code and a signed lease. Answers " +
    "with valid=false are still 200: the reason says why. Instance token and request signature required. " +
    "The design's body (license_key, instance_id, hwid, version; no nonce, no fingerprint) is answered too, " +
    "signed, with the lease bound to the hwid and `binding` saying so." +
    signedNote,
  tags: ["licensing"],
  body: licenseBody(false),
  response: { 200: answerSchema, ...errors },
} as const;

/** Route schema of POST /v1/auth/activate. */
export const activateRouteSchema = {
  summary: "Activate a license key on this instance",
  description:
    "Takes a seat of the license for the instance, bound to its fingerprint, recording address and user " +
    "agent. A key activated on another license's seat replaces it. TOO_MANY_INSTANCES when every seat is " +
    "taken (seats without heartbeats for the configured time are freed first)." +
    signedNote,
  tags: ["licensing"],
  body: licenseBody(true),
  response: { 200: answerSchema, ...errors },
} as const;

/** Route schema of POST /v1/auth/heartbeat. */
export const heartbeatRouteSchema = {
  summary: "Heartbeat",
  description:
    "Keeps the instance's seat (send one before next_heartbeat_at). Answers whether to go on and a fresh " +
    "lease; banned or revoked → continue false." +
    signedNote,
  tags: ["licensing"],
  body: {
    type: "object",
    required: [],
    additionalProperties: false,
    properties: {
      instance_id: { type: "string", format: "uuid" },
      nonce: nonceSchema,
      fingerprint: fingerprintSchema,
      session_stats: sessionStatsSchema,
    },
  },
  response: {
    200: {
      type: "object",
      required: [...answerSchema.required, "continue", "next_heartbeat_at"],
      properties: {
        continue: { type: "boolean" },
        next_heartbeat_at: { type: "string", format: "date-time" },
        ...answerProperties,
      },
    },
    ...errors,
  },
} as const;
