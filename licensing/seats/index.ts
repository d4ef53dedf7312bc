export type { AnswerBinding, LicenseAnswerBody } from "./answer.ts";
export { type Decision, decide, type Presented, type ReasonCode, STOPPING_REASONS } from "./decide.ts";
export {
  type Caller,
  createLicensingService,
  type Deactivation,
  type HeartbeatBody,
  hwidDigest,
  keyPrefix,
  type LicenseRequest,
  type LicensingLimits,
  type LicensingService,
  type LicensingServiceDeps,
} from "./licensing-service.ts";
export {
  createSeatCache,
  instanceChangesChannel,
  type SeatCache,
  subscribeInstanceChanges,
} from "./seat-cache.ts";
export { loadSeatState, type Seat, type SeatLicense, type SeatState } from "./seat-state.ts";
