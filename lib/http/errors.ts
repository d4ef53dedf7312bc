import createError from "@fastify/error";

/**
 * The error registry of the HTTP API: every error a client can see has a stable code here.
 * Bodies are always {error: {code, message}}; the error handler maps everything else onto these.
 */
export const HttpErrors = {
  MALFORMED_BODY: createError("MALFORMED_BODY", "request body is not valid JSON: %s", 400),
  INVALID_BODY: createError("INVALID_BODY", "request body is invalid: %s", 400),
  INVALID_CHARACTER: createError(
    "INVALID_CHARACTER",
    "the request holds a character that cannot be stored (NUL or a lone surrogate): %s",
    400,
  ),
  UNKNOWN_FIELD: createError("UNKNOWN_FIELD", "unknown field: %s", 400),
  DUPLICATE_KEY: createError("DUPLICATE_KEY", "the JSON body repeats a key in one object: %s", 400),
  METHOD_NOT_ALLOWED: createError("METHOD_NOT_ALLOWED", "method not allowed: %s", 405),
  URL_TOO_LONG: createError("URL_TOO_LONG", "the URL or one of its path parameters is too long", 414),
  BAD_URL: createError("BAD_URL", "the URL cannot be decoded", 400),
  HEADERS_TOO_LARGE: createError("HEADERS_TOO_LARGE", "the request headers are too large", 431),
  REQUEST_TIMEOUT: createError("REQUEST_TIMEOUT", "the request took too long to arrive", 408),
  MALFORMED_REQUEST: createError("MALFORMED_REQUEST", "the request is not valid HTTP/1.1", 400),
  BODY_TOO_LARGE: createError("BODY_TOO_LARGE", "request body exceeds %s bytes", 413),
  DECOMPRESSION_LIMIT: createError(
    "DECOMPRESSION_LIMIT",
    "the compressed body exceeds a decompression limit: %s",
    413,
  ),
  UNSUPPORTED_MEDIA_TYPE: createError("UNSUPPORTED_MEDIA_TYPE", "unsupported content type: %s", 415),
  NOT_FOUND: createError("NOT_FOUND", "no route %s", 404),
  BATCH_TOO_LARGE: createError(
    "BATCH_TOO_LARGE",
    "the encoded batch exceeds %s bytes; send smaller batches",
    413,
  ),
  SCHEMA_UNKNOWN: createError("SCHEMA_UNKNOWN", "unknown writer schema fingerprint %s", 400),
  TOKEN_MISSING: createError(
    "TOKEN_MISSING",
    "an instance token is required (Authorization: Bearer <token>)",
    401,
  ),
  TOKEN_MALFORMED: createError("TOKEN_MALFORMED", "the instance token is not a well-formed JWT", 401),
  TOKEN_EXPIRED: createError("TOKEN_EXPIRED", "the instance token has expired; refresh it", 401),
  TOKEN_INVALID: createError("TOKEN_INVALID", "the instance token is not valid", 401),
  SIGNATURE_MISSING: createError(
    "SIGNATURE_MISSING",
    "X-SM-Timestamp (unix milliseconds) and X-SM-Signature headers are required",
    401,
  ),
  SIGNATURE_EXPIRED: createError(
    "SIGNATURE_EXPIRED",
    "the request timestamp is more than %s seconds from the server's clock; sign the request again",
    401,
  ),
  SIGNATURE_INVALID: createError("SIGNATURE_INVALID", "the request signature does not match", 401),
  SIGNATURE_REUSED: createError(
    "SIGNATURE_REUSED",
    "this request signature was already used; sign every request, retries included, afresh",
    401,
  ),
  INSTANCE_UNKNOWN: createError("INSTANCE_UNKNOWN", "the token's instance is not registered", 401),
  INSTANCE_BANNED: createError("INSTANCE_BANNED", "this instance is banned", 403),
  INSTANCE_MISMATCH: createError("INSTANCE_MISMATCH", "instance_id does not match the token's instance", 403),
  // Answers of an overloaded service, made by the thousand a second under load: no stack trace to capture.
  RATE_LIMITED: createError(
    "RATE_LIMITED",
    "more than %s requests per minute; retry after Retry-After",
    429,
    Error,
    false,
  ),
  SIGNATURES_LIMITED: createError(
    "SIGNATURES_LIMITED",
    "too many badly signed requests from this address; retry after Retry-After",
    429,
  ),
  HWID_IN_USE: createError(
    "HWID_IN_USE",
    "this hwid belongs to a registered instance; prove possession (sign the request with its secret, or send its refresh_token or an active license_key) or ask an admin to reset it",
    409,
  ),
  SUSPICIOUS_CLIENT: createError("SUSPICIOUS_CLIENT", "this client is refused by an abuse rule", 403),
  PIPELINE_UNAVAILABLE: createError("PIPELINE_UNAVAILABLE", "the telemetry pipeline is unavailable: %s", 503),
  PIPELINE_FULL: createError("PIPELINE_FULL", "the telemetry pipeline is full; retry later", 503),
  NOT_READY: createError("NOT_READY", "a required dependency is down", 503),
  DEPENDENCY_UNAVAILABLE: createError(
    "DEPENDENCY_UNAVAILABLE",
    "%s is unavailable; retry after Retry-After",
    503,
  ),
  OVERLOADED: createError(
    "OVERLOADED",
    "the service is overloaded (%s); retry after Retry-After",
    503,
    Error,
    false,
  ),
  CLIENT_DISCONNECTED: createError(
    "CLIENT_DISCONNECTED",
    "the client closed the connection before the request was complete",
    400,
  ),
  INTERNAL: createError("INTERNAL", "internal error", 500),
  REFRESH_INVALID: createError(
    "REFRESH_INVALID",
    "the refresh token is unknown, used or expired; register the instance again",
    401,
  ),
  KEY_GUESSING: createError(
    "KEY_GUESSING",
    "too many unknown license keys from this address; retry after Retry-After",
    429,
  ),
  TOO_MANY_ERRORS: createError(
    "TOO_MANY_ERRORS",
    "too many failed licensing requests from this instance; retry after Retry-After",
    429,
  ),
  REGISTRATIONS_LIMITED: createError(
    "REGISTRATIONS_LIMITED",
    "too many registrations from this address; retry after Retry-After",
    429,
  ),
  TRANSFER_LIMIT: createError(
    "TRANSFER_LIMIT",
    "this license was moved between machines as often as its tier allows in 30 days; retry after Retry-After",
    429,
  ),
  NOT_ACTIVATED: createError("NOT_ACTIVATED", "this instance holds no license seat", 409),
  ADMIN_TOKEN_INVALID: createError(
    "ADMIN_TOKEN_INVALID",
    "a valid admin token is required (Authorization: Bearer smadm_…)",
    401,
  ),
  ADMIN_SCOPE_MISSING: createError("ADMIN_SCOPE_MISSING", "the admin token lacks the scope %s", 403),
  LICENSE_NOT_FOUND: createError("LICENSE_NOT_FOUND", "no such license", 404),
  INSTANCE_NOT_FOUND: createError("INSTANCE_NOT_FOUND", "no such instance", 404),
  ERASURE_NOT_FOUND: createError("ERASURE_NOT_FOUND", "no erasure job has this id", 404),
  TIER_UNKNOWN: createError("TIER_UNKNOWN", "unknown tier", 400),
  CSRF_INVALID: createError(
    "CSRF_INVALID",
    "a console action needs the session's X-CSRF-Token header and a same-origin Origin",
    403,
  ),
  EXPIRY_INVALID: createError("EXPIRY_INVALID", "the new expiry must lie in the future", 400),
  CURSOR_INVALID: createError("CURSOR_INVALID", "the paging cursor is malformed", 400),
  PORTAL_SESSION_INVALID: createError(
    "PORTAL_SESSION_INVALID",
    "sign in to the license portal with your license key first",
    401,
  ),
  PORTAL_KEY_INVALID: createError("PORTAL_KEY_INVALID", "no license has this key", 401),
  PORTAL_SIGNIN_LIMITED: createError(
    "PORTAL_SIGNIN_LIMITED",
    "too many failed sign-ins from this address; retry after Retry-After",
    429,
  ),
  DEVICE_NOT_FOUND: createError("DEVICE_NOT_FOUND", "no active device of this license has this id", 404),
  CONSOLE_NOT_BUILT: createError(
    "CONSOLE_NOT_BUILT",
    "the web console is not built; run `npm run web:build` (npm start does it)",
    503,
  ),
  WEBHOOK_SIGNATURE_INVALID: createError(
    "WEBHOOK_SIGNATURE_INVALID",
    "the webhook signature does not verify: %s",
    400,
  ),
  PAYMENTS_NOT_CONFIGURED: createError(
    "PAYMENTS_NOT_CONFIGURED",
    "webhooks of %s are not configured on this server (no signing secret)",
    503,
  ),
  WEBHOOK_TARGET_REFUSED: createError("WEBHOOK_TARGET_REFUSED", "%s", 400),
  WEBHOOK_EVENT_UNKNOWN: createError("WEBHOOK_EVENT_UNKNOWN", "%s", 400),
  WEBHOOK_ENDPOINT_NOT_FOUND: createError("WEBHOOK_ENDPOINT_NOT_FOUND", "no such webhook endpoint", 404),
  WEBHOOK_DELIVERY_NOT_FOUND: createError("WEBHOOK_DELIVERY_NOT_FOUND", "no such webhook delivery", 404),
  ALERTS_TOKEN_INVALID: createError("ALERTS_TOKEN_INVALID", "a valid alert intake token is required", 401),
} as const;

/** The JSON shape of every error response. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** JSON schema of ErrorBody, for route response schemas and the OpenAPI document. */
export const errorBodySchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" } },
    },
  },
} as const;
