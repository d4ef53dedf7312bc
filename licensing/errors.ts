/** Every stable code a licensing error carries; the HTTP layer maps the client-facing ones to statuses. */
export type LicensingErrorCode =
  | "TOKEN_MISSING"
  | "TOKEN_MALFORMED"
  | "TOKEN_EXPIRED"
  | "TOKEN_INVALID"
  | "REFRESH_INVALID"
  | "INSTANCE_BANNED"
  | "KEYRING_INVALID"
  | "SECRET_BOX_INVALID";

/** A licensing failure with a stable code and, where one exists, the underlying cause. */
export class LicensingError extends Error {
  override readonly name = "LicensingError";
  constructor(
    readonly code: LicensingErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Whether a value is a LicensingError, optionally of one code. */
export function isLicensingError(err: unknown, code?: LicensingErrorCode): err is LicensingError {
  return err instanceof LicensingError && (code === undefined || err.code === code);
}
