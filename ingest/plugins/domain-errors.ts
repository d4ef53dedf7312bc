import type { FastifyError } from "fastify";
import { HttpErrors } from "../../lib/http/index.ts";
import { LicensingError, type LicensingErrorCode } from "../../licensing/index.ts";
import { WebhookError, type WebhookErrorCode } from "../../webhooks/index.ts";

/** A code of the HTTP error registry (lib/http/errors.ts), which holds each code's status. */
export type HttpErrorCode = keyof typeof HttpErrors;

/**
 * The API error of every licensing error code. A Record over the union: a code added to
 * LicensingErrorCode without a line here fails `tsc`. Codes that mean a broken server, not a client's
 * mistake, map to INTERNAL (answered 500 and logged with the original).
 */
export const LICENSING_HTTP_CODES: Readonly<Record<LicensingErrorCode, HttpErrorCode>> = {
  TOKEN_MISSING: "TOKEN_MISSING",
  TOKEN_MALFORMED: "TOKEN_MALFORMED",
  TOKEN_EXPIRED: "TOKEN_EXPIRED",
  TOKEN_INVALID: "TOKEN_INVALID",
  REFRESH_INVALID: "REFRESH_INVALID",
  INSTANCE_BANNED: "INSTANCE_BANNED",
  KEYRING_INVALID: "INTERNAL",
  SECRET_BOX_INVALID: "INTERNAL",
  KEY_GUESSING: "KEY_GUESSING",
  TOO_MANY_ERRORS: "TOO_MANY_ERRORS",
  REGISTRATIONS_LIMITED: "REGISTRATIONS_LIMITED",
  TRANSFER_LIMIT: "TRANSFER_LIMIT",
  NOT_ACTIVATED: "NOT_ACTIVATED",
  ADMIN_TOKEN_INVALID: "ADMIN_TOKEN_INVALID",
  ADMIN_SCOPE_MISSING: "ADMIN_SCOPE_MISSING",
  LICENSE_NOT_FOUND: "LICENSE_NOT_FOUND",
  INSTANCE_NOT_FOUND: "INSTANCE_NOT_FOUND",
  TIER_UNKNOWN: "TIER_UNKNOWN",
  CURSOR_INVALID: "CURSOR_INVALID",
  PORTAL_KEY_INVALID: "PORTAL_KEY_INVALID",
  PORTAL_SIGNIN_LIMITED: "PORTAL_SIGNIN_LIMITED",
  DEVICE_NOT_FOUND: "DEVICE_NOT_FOUND",
  EXPIRY_INVALID: "EXPIRY_INVALID",
  HWID_IN_USE: "HWID_IN_USE",
  SUSPICIOUS_CLIENT: "SUSPICIOUS_CLIENT",
};

/** The API error of every outgoing-webhook error code; total at compile time like the licensing one. */
export const WEBHOOK_HTTP_CODES: Readonly<Record<WebhookErrorCode, HttpErrorCode>> = {
  WEBHOOK_TARGET_REFUSED: "WEBHOOK_TARGET_REFUSED",
  WEBHOOK_EVENT_UNKNOWN: "WEBHOOK_EVENT_UNKNOWN",
  WEBHOOK_ENDPOINT_NOT_FOUND: "WEBHOOK_ENDPOINT_NOT_FOUND",
  WEBHOOK_DELIVERY_NOT_FOUND: "WEBHOOK_DELIVERY_NOT_FOUND",
};

type WithCause = new (...args: unknown[]) => FastifyError;

/**
 * The API error for a domain error (licensing, outgoing webhooks), with the original as cause, or
 * undefined for any other error. Given to the one error handler (lib/http/error-handler.ts) as its
 * mapper: routes and hooks throw domain errors as they are and never translate them.
 */
export function domainHttpError(err: Error): FastifyError | undefined {
  if (err instanceof LicensingError) {
    const Ctor = HttpErrors[LICENSING_HTTP_CODES[err.code]] as unknown as WithCause;
    // The registry's own message: licensing's messages may name more than a client should learn.
    return new Ctor({ cause: err });
  }
  if (err instanceof WebhookError) {
    const Ctor = HttpErrors[WEBHOOK_HTTP_CODES[err.code]] as unknown as WithCause;
    return new Ctor(err.message, { cause: err });
  }
  return undefined;
}
