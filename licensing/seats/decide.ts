import { type FingerprintComponents, type FingerprintMatch, matchFingerprint } from "../client/index.ts";
import type { SeatState } from "./seat-state.ts";

/** Every reason code a licensing answer carries. */
export type ReasonCode =
  | "VALID"
  | "NOT_FOUND"
  | "NOT_ACTIVATED"
  | "EXPIRED"
  | "REVOKED"
  | "BANNED"
  | "TOO_MANY_INSTANCES"
  | "FINGERPRINT_MISMATCH"
  | "FINGERPRINT_CLONED"
  | "HEARTBEAT_DEAD";

/** What a validation decided from the cached state alone. */
export type Decision =
  | { kind: "answer"; reason: ReasonCode; seat: SeatState["seat"]; match?: FingerprintMatch }
  /** The key is not the one of the instance's seat: the caller looks it up. */
  | { kind: "lookup_key" };

/** What the instance presented. */
export interface Presented {
  /** Hex sha256 of the key it sent, if it sent one. */
  keyHash?: string;
  /** Its fingerprint components; undefined skips the check (heartbeats may omit them). */
  components?: FingerprintComponents;
}

/**
 * Decides a validation from an instance's state, in the order a support desk would explain it: a banned
 * instance first, then a key that is not this seat's, a seat that ended, a revoked license, a banned
 * machine, a seat gone dead, another machine, an expired license; otherwise VALID. Pure: the time and the
 * dead-after interval are given.
 */
export function decide(state: SeatState, presented: Presented, now: number, deadAfterMs: number): Decision {
  if (state.banned) return { kind: "answer", reason: "BANNED", seat: state.seat };
  const seat = state.seat;
  if (presented.keyHash !== undefined && seat?.license.keyHash !== presented.keyHash)
    return { kind: "lookup_key" };
  // No seat and no key: a free instance.
  if (!seat) return { kind: "answer", reason: "VALID", seat: null };
  if (seat.endedReason !== null) {
    if (seat.endedReason === "heartbeat_dead") return { kind: "answer", reason: "HEARTBEAT_DEAD", seat };
    if (seat.endedReason === "revoked") return { kind: "answer", reason: "REVOKED", seat };
    return presented.keyHash !== undefined
      ? { kind: "answer", reason: "NOT_ACTIVATED", seat }
      : { kind: "answer", reason: "VALID", seat: null };
  }
  if (seat.license.revoked) return { kind: "answer", reason: "REVOKED", seat };
  if (seat.fingerprintBanned) return { kind: "answer", reason: "BANNED", seat };
  if (now - seat.lastHeartbeatAt > deadAfterMs) return { kind: "answer", reason: "HEARTBEAT_DEAD", seat };
  let match: FingerprintMatch | undefined;
  if (presented.components) {
    match = matchFingerprint(seat.components, presented.components);
    if (!match.ok) return { kind: "answer", reason: "FINGERPRINT_MISMATCH", seat, match };
  }
  if (seat.license.expiresAt !== null && seat.license.expiresAt <= now) {
    return { kind: "answer", reason: "EXPIRED", seat, match };
  }
  return { kind: "answer", reason: "VALID", seat, match };
}

/** Reasons that stop an instance (no lease, heartbeat says continue: false). */
export const STOPPING_REASONS: ReadonlySet<ReasonCode> = new Set(["BANNED", "REVOKED"]);
