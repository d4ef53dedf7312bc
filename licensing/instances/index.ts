export { banInstance, unbanInstance } from "./ban-instance.ts";
export {
  CONSENT_CHANNEL,
  CONSENT_FAMILIES,
  type Consent,
  type ConsentChange,
  type ConsentFamily,
  changeConsent,
  DEFAULT_CONSENT,
  readConsent,
  setConsent,
} from "./consent.ts";
export { isUuid } from "./instance-id.ts";
export type { IssuedTokens, TokenLifetimes } from "./issue-tokens.ts";
export { type InstanceAuth, loadInstanceAuth } from "./load-instance-auth.ts";
export { type PossessionProof, type ProofKind, provePossession } from "./possession.ts";
export { type Refreshed, refreshInstanceToken, revokeRefreshTokens } from "./refresh-instance-token.ts";
export {
  type RegisterOptions,
  type Registration,
  type RegistrationInput,
  registerInstance,
  signingSecretContext,
} from "./register-instance.ts";
export { recordSessionStats, type SessionStats } from "./session-stats.ts";
export { withTransaction } from "./transaction.ts";
