import { HttpErrors } from "../../../../lib/http/index.ts";
import { isLicensingError } from "../../../../licensing/index.ts";

/**
 * The HTTP error for a licensing error whose code the API exposes (TOKEN_*, REFRESH_INVALID,
 * INSTANCE_BANNED), with the original as cause; anything else is returned as it is (the error handler
 * answers 500 and logs it).
 */
export function toHttpError(err: unknown): unknown {
  if (!isLicensingError(err) || !(err.code in HttpErrors)) return err;
  const Ctor = HttpErrors[err.code as keyof typeof HttpErrors] as new (opts: { cause: unknown }) => Error;
  return new Ctor({ cause: err });
}
