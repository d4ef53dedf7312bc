export {
  bearerToken,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_TOKEN_TTL_SECONDS,
  type InstanceTokenClaims,
  type IssueTokenOptions,
  issueInstanceToken,
  TOKEN_ISSUER,
  type TokenSubject,
  tokenExpiresAt,
  type VerifyTokenOptions,
  verifyInstanceToken,
} from "./instance-token.ts";
export {
  DEFAULT_REFRESH_TTL_SECONDS,
  hashRefreshToken,
  isRefreshTokenShape,
  newRefreshToken,
} from "./refresh-token.ts";
export { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from "./token-verifier.ts";
