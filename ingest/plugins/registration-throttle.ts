import type { Config } from "../../lib/config/index.ts";
import { LicensingError } from "../../licensing/index.ts";
import type { IngestDeps } from "../deps.ts";

/**
 * The registration throttle: at most licensing.registrationsPerHour registrations per address and
 * hour. Throws REGISTRATIONS_LIMITED with Retry-After (answered 429 by the error handler's mapping).
 */
export function registrationThrottle(config: Readonly<Config>, deps: Pick<IngestDeps, "abuse">) {
  return async (ip: string): Promise<void> => {
    const v = await deps.abuse.hitAndCheck(
      "registrations_per_address",
      ip,
      config.licensing.registrationsPerHour,
      3600,
    );
    if (v.blocked) {
      throw new LicensingError("REGISTRATIONS_LIMITED", "too many registrations from this address", {
        retryAfterSeconds: v.retryAfterSeconds,
      });
    }
  };
}
