import { errorBodySchema } from "../../../../lib/http/index.ts";

const consentSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    quality: {
      type: "boolean",
      description: "quality metrics and error reports (default false: every family is opt-in)",
    },
    playback: { type: "boolean", description: "playback events (default false)" },
    session: { type: "boolean", description: "session events (default false)" },
    library: { type: "boolean", description: "library snapshots (default false)" },
  },
} as const;

/** The body of POST /v1/instances/register. */
export interface RegisterBody {
  hwid: string;
  platform: string;
  version: string;
  owner_email?: string | null;
  consent?: { quality?: boolean; playback?: boolean; session?: boolean; library?: boolean };
  /** Proof of possession of a known hwid: the instance's refresh token. */
  refresh_token?: string;
  /** Proof of possession of a known hwid: a license key with a live seat on the instance. */
  license_key?: string;
}

/** JSON schema of RegisterBody. */
export const registerBodySchema = {
  type: "object",
  required: ["hwid", "platform", "version"],
  additionalProperties: false,
  properties: {
    hwid: {
      type: "string",
      minLength: 8,
      maxLength: 64,
      pattern: "^[\\x21-\\x7e]+$",
      description: "stable hardware id of the machine (printable ASCII, no spaces); one instance per hwid",
    },
    platform: { type: "string", minLength: 1, maxLength: 32, description: "e.g. linux, darwin, windows" },
    version: { type: "string", minLength: 1, maxLength: 32, description: "SongMartyn version" },
    owner_email: { type: ["string", "null"], format: "email", maxLength: 255 },
    consent: {
      ...consentSchema,
      description:
        "telemetry families the owner agrees to send; a new instance that omits a family gets its default, " +
        "a known one keeps its recorded choice",
    },
    refresh_token: {
      type: "string",
      maxLength: 128,
      description: "proof of possession when the hwid is known: the instance's current refresh token",
    },
    license_key: {
      type: "string",
      maxLength: 64,
      description:
        "proof of possession when the hwid is known: a license key with a live seat on the instance " +
        "(recovery for an owner who lost the instance's credentials)",
    },
  },
} as const;

const tokenProperties = {
  instance_id: { type: "string", format: "uuid" },
  instance_token: {
    type: "string",
    description: "EdDSA-signed JWT; send as Authorization: Bearer <token>",
  },
  token_expires_at: { type: "string", format: "date-time" },
  refresh_token: {
    type: "string",
    description: "one-time; exchange at POST /v1/auth/refresh before it expires",
  },
  refresh_token_expires_at: { type: "string", format: "date-time" },
  tier: { type: "string", description: "starter, party_host or venue" },
} as const;

/** Response properties shared by registration and refresh. */
export const tokenResponseSchema = {
  type: "object",
  required: Object.keys(tokenProperties),
  properties: tokenProperties,
} as const;

/** Route schema of POST /v1/instances/register (also feeds the OpenAPI document). */
export const registerRouteSchema = {
  summary: "Register an instance",
  description:
    "Registers a SongMartyn instance by its hardware id and returns its credentials: a short-lived instance " +
    "token, a one-time refresh token, and the request-signing secret (returned only here; the instance signs " +
    "each telemetry request with it: X-SM-Timestamp and X-SM-Signature = base64url HMAC-SHA256 over " +
    "METHOD\\nPATH\\nTIMESTAMP\\nSHA256_HEX(body), keyed with the base64url-decoded secret). Registering a " +
    "known hwid again returns the same instance with new credentials, the previous ones stop working, and " +
    "needs proof of possession: the request signed (X-SM-Timestamp, X-SM-Signature) with the instance's " +
    "current secret, or its refresh_token, or a license_key with a live seat on it; without proof " +
    "409 HWID_IN_USE and nothing changes. An instance an admin reset (POST " +
    "/v1/admin/instances/{id}/reset-registration) is claimed by the next registration of its hwid.",
  tags: ["instances"],
  body: registerBodySchema,
  response: {
    201: {
      type: "object",
      required: [...tokenResponseSchema.required, "signing_secret", "registered_at", "consent"],
      properties: {
        ...tokenProperties,
        signing_secret: { type: "string", description: "32 bytes, base64url; shown once, keep it secret" },
        registered_at: { type: "string", format: "date-time" },
        consent: { ...consentSchema, required: ["quality", "playback", "session", "library"] },
      },
    },
    "4xx": errorBodySchema,
    "5xx": errorBodySchema,
  },
} as const;
