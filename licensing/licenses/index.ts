export { hashLicenseKey, licenseKeyHint, newLicenseKey } from "./license-key.ts";
