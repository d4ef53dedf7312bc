/** Every stable code a licensing error carries; the HTTP layer maps the client-facing ones to statuses. */
export type LicensingErrorCode =
  | "TOKEN_MISSING"
  | "TOKEN_MALFORMED"
  | "TOKEN_EXPIRED"
  | "TOKEN_INVALID"
  | "REFRESH_INVALID"
  | "INSTANCE_BANNED"
  | "KEYRING_INVALID"
  | "SECRET_BOX_INVALID"
  | "KEY_GUESSING"
  | "TOO_MANY_ERRORS"
  | "REGISTRATIONS_LIMITED"
  | "TRANSFER_LIMIT"
  | "NOT_ACTIVATED"
  | "ADMIN_TOKEN_INVALID"
  | "ADMIN_SCOPE_MISSING"
  | "LICENSE_NOT_FOUND"
  | "INSTANCE_NOT_FOUND"
  | "TIER_UNKNOWN"
  | "CURSOR_INVALID"
  | "PORTAL_KEY_INVALID"
  | "PORTAL_SIGNIN_LIMITED"
  | "DEVICE_NOT_FOUND"
  | "EXPIRY_INVALID"
  | "HWID_IN_USE"
  | "SUSPICIOUS_CLIENT";

/** A licensing failure with a stable code and, where one exists, the underlying cause. */
export class LicensingError extends Error {
  override readonly name = "LicensingError";
  constructor(
    readonly code: LicensingErrorCode,
    message: string,
    options?: ErrorOptions & { retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
  /** For throttling codes: seconds until the client may try again (sent as Retry-After). */
  readonly retryAfterSeconds: number | undefined;
}

/** Whether a value is a LicensingError, optionally of one code. */
export function isLicensingError(err: unknown, code?: LicensingErrorCode): err is LicensingError {
  return err instanceof LicensingError && (code === undefined || err.code === code);
}
