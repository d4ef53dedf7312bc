// The instance side of licensing: checks keys for typos, hashes fingerprint components, and verifies
// signed answers and leases offline with the published keys. Imports nothing of the server, so it can be
// copied into (or ported to) an instance as it is.
export {
  COMPONENT_NAME,
  type FingerprintComponents,
  type FingerprintMatch,
  fingerprintDigest,
  hashComponent,
  matchFingerprint,
} from "./fingerprint.ts";
export {
  formatLicenseKey,
  KEY_ALPHABET,
  KEY_CHECK_CHARS,
  KEY_RANDOM_CHARS,
  keyCheckChars,
  type LicenseKeyParts,
  normalizeLicenseKey,
  parseLicenseKey,
} from "./key-format.ts";
export { type LeaseClaims, type LeaseEnforcement, verifyLease } from "./lease.ts";
export {
  ANSWER_SIGNATURE_HEADER,
  canonicalAnswer,
  formatAnswerSignature,
  KeyStore,
  LEASE_AUDIENCE,
  LEASE_TYPE,
  type PublicKeySet,
  parseAnswerSignature,
  type ReceivedAnswer,
  VerifyError,
  type VerifyFailure,
  verifyAnswerSignature,
} from "./signed-answer.ts";
export { type LicenseAnswer, verifyLicenseAnswer } from "./verify-answer.ts";
