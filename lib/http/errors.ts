import createError from "@fastify/error";

/**
 * The error registry of the HTTP API: every error a client can see has a stable code here.
 * Bodies are always {error: {code, message}}; the error handler maps everything else onto these.
 */
export const HttpErrors = {
  MALFORMED_BODY: createError("MALFORMED_BODY", "request body is not valid JSON: %s", 400),
  INVALID_BODY: createError("INVALID_BODY", "request body is invalid: %s", 400),
  BODY_TOO_LARGE: createError("BODY_TOO_LARGE", "request body exceeds %s bytes", 413),
  UNSUPPORTED_MEDIA_TYPE: createError("UNSUPPORTED_MEDIA_TYPE", "unsupported content type: %s", 415),
  NOT_FOUND: createError("NOT_FOUND", "no route %s", 404),
  PIPELINE_UNAVAILABLE: createError("PIPELINE_UNAVAILABLE", "the telemetry pipeline is unavailable: %s", 503),
  PIPELINE_FULL: createError("PIPELINE_FULL", "the telemetry pipeline is full; retry later", 503),
  NOT_READY: createError("NOT_READY", "a required dependency is down", 503),
  INTERNAL: createError("INTERNAL", "internal error", 500),
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
