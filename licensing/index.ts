export { isLicensingError, LicensingError, type LicensingErrorCode } from "./errors.ts";
export * from "./instances/index.ts";
export * from "./keys/index.ts";
export * from "./request-signing/index.ts";
export * from "./tokens/index.ts";
