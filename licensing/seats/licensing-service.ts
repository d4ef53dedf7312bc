import { createHash, randomBytes } from "node:crypto";
import type pg from "pg";
import { createCountryLookup } from "../../processors/steps/enrich/country-lookup.ts";
import type { AbuseGuard } from "../abuse/index.ts";
import { type FingerprintComponents, fingerprintDigest, parseLicenseKey } from "../client/index.ts";
import { LicensingError } from "../errors.ts";
import type { PiiVault } from "../keys/index.ts";
import { hashLicenseKey } from "../licenses/license-key.ts";
import type { LicensingMetrics } from "../metrics.ts";
import { FREE_TIER, type PolicyBook } from "../policies/index.ts";
import type { AnswerSigner } from "../signing/index.ts";
import {
  type AnswerBinding,
  type AnswerInput,
  type BuiltAnswer,
  buildAnswer,
  type LicenseAnswerBody,
} from "./answer.ts";
import { decide, type ReasonCode, STOPPING_REASONS } from "./decide.ts";
import type { SeatCache } from "./seat-cache.ts";
import { driftedComponents, heartbeatPlan } from "./seat-rules.ts";
import type { SeatLicense, SeatState } from "./seat-state.ts";
import { createSeatStore } from "./seat-store.ts";
import { takeSeat } from "./take-seat.ts";

/** Limits of the licensing service (see SMSTATS_LICENSE_* in lib/config/env.ts). */
export interface LicensingLimits {
  heartbeatIntervalSeconds: number;
  heartbeatDeadSeconds: number;
  keyGuesses: number;
  keyGuessWindowSeconds: number;
  errorsPerHour: number;
  maxInstancesPerFingerprint: number;
  /** Failed lookups per key prefix (any address) per key-guessing window. */
  keyGuessesPerPrefix: number;
}

/** Who is asking and from where. */
export interface Caller {
  instanceId: string;
  ip: string;
  userAgent: string | undefined;
}

/** A validate or activate request. */
export interface LicenseRequest {
  licenseKey?: string;
  /** The client's nonce; absent (the design's validate body), the server chooses one and says so. */
  nonce?: string;
  /** Hashed fingerprint components; absent (the design's validate body), the lease is bound to the hwid. */
  components?: FingerprintComponents;
  /** The hwid the design's body carries; when given it must be the instance's registered one. */
  hwid?: string;
}

/** A heartbeat answer: the validation body plus whether to go on and when to beat next. */
export interface HeartbeatBody extends LicenseAnswerBody {
  continue: boolean;
  next_heartbeat_at: string;
}

/** What a self-service deactivation did. */
export interface Deactivation {
  instance_id: string;
  license_id: string;
  deactivated_at: string;
  transfers_left: number;
}

/** Activation, validation, heartbeats, deactivation and the freeing of dead seats. */
export interface LicensingService {
  activate(
    caller: Caller,
    req: LicenseRequest & { licenseKey: string; nonce: string; components: FingerprintComponents },
  ): Promise<LicenseAnswerBody>;
  validate(caller: Caller, req: LicenseRequest): Promise<LicenseAnswerBody>;
  heartbeat(
    caller: Caller,
    req: { nonce?: string; components?: FingerprintComponents },
  ): Promise<HeartbeatBody>;
  deactivate(caller: Caller): Promise<Deactivation>;
  /** Frees the seats whose heartbeats stopped and drops expired licenses' instances to Starter; returns seats freed. */
  reapDeadSeats(): Promise<number>;
}

/** What the service works with. */
export interface LicensingServiceDeps {
  pool: pg.Pool;
  cache: SeatCache;
  policies: PolicyBook;
  signer: AnswerSigner;
  abuse: AbuseGuard;
  metrics: LicensingMetrics;
  limits: LicensingLimits;
  /** Seals the client address an activation keeps and tags the addresses abuse flags name. */
  vault: PiiVault;
  clock?: () => Date;
}

// Answers that mean the request was wrong (a bad key, another machine, no seat), which an honest instance
// does not repeat all day. States an instance merely reports on (EXPIRED, REVOKED, BANNED, HEARTBEAT_DEAD)
// are not counted: it is told them every time, signed.
const FAILED_REQUESTS: ReadonlySet<ReasonCode> = new Set([
  "NOT_FOUND",
  "NOT_ACTIVATED",
  "FINGERPRINT_MISMATCH",
  "FINGERPRINT_CLONED",
  "TOO_MANY_INSTANCES",
]);

/** The digest a lease bound to an hwid carries in fp (never the hwid itself). */
export function hwidDigest(hwid: string): string {
  return `hwid:${createHash("sha256").update(`smstats-hwid\n${hwid}`).digest("hex")}`;
}

/** The non-random part of a key (SM-LABEL-DATE), upper case, bounded: the subject of per-prefix limits. */
export function keyPrefix(key: string): string {
  return key
    .toUpperCase()
    .split("-")
    .slice(0, 3)
    .join("-")
    .replace(/[^A-Z0-9-]/g, "_")
    .slice(0, 32);
}

/** The licensing service over PostgreSQL (truth), Redis (cache, counters) and the signing key. */
export function createLicensingService(deps: LicensingServiceDeps): LicensingService {
  const { pool, cache, policies, signer, abuse, metrics, limits, vault } = deps;
  const countryOf = createCountryLookup();
  const clock = deps.clock ?? (() => new Date());
  const deadAfterMs = limits.heartbeatDeadSeconds * 1000;
  const store = createSeatStore(pool);

  const refuseIfThrottled = async (caller: Caller) => {
    const v = await abuse.check("instance_errors", caller.instanceId, limits.errorsPerHour);
    if (v.blocked) {
      throw new LicensingError("TOO_MANY_ERRORS", "too many failed licensing requests from this instance", {
        retryAfterSeconds: v.retryAfterSeconds,
      });
    }
  };
  // Key guessing is throttled per address and per key prefix (SM-LABEL-DATE, the part a guesser keeps
  // while varying the tail), counting failures only. An address or prefix over its limit is refused for
  // unknown keys only: a key that exists always passes, so an honest venue behind the same NAT as a
  // guesser, or whose key shares a guessed prefix, is never locked out of its real key.
  const guessGate = async (caller: Caller, key: string) => {
    const [byAddress, byPrefix] = await Promise.all([
      abuse.peek("key_guessing", caller.ip, limits.keyGuesses),
      abuse.peek("key_guessing_prefix", keyPrefix(key), limits.keyGuessesPerPrefix),
    ]);
    if (byAddress.blocked) return { rule: "key_guessing" as const, verdict: byAddress };
    if (byPrefix.blocked) return { rule: "key_guessing_prefix" as const, verdict: byPrefix };
    return undefined;
  };
  type Gate = Awaited<ReturnType<typeof guessGate>>;
  // An unknown key: refused when its address or prefix is over the limit, else counted and answered.
  const unknownKey = async (caller: Caller, key: string, gate: Gate) => {
    if (gate) {
      metrics.abuse.inc({ rule: gate.rule });
      throw new LicensingError("KEY_GUESSING", "too many unknown license keys from this address or prefix", {
        retryAfterSeconds: gate.verdict.retryAfterSeconds,
      });
    }
    await countGuess(caller, key);
  };
  const countGuess = async (caller: Caller, key: string) => {
    const [n] = await Promise.all([
      abuse.hit("key_guessing", caller.ip, limits.keyGuessWindowSeconds),
      abuse.hit("key_guessing_prefix", keyPrefix(key), limits.keyGuessWindowSeconds),
    ]);
    // Flagged once per window, when the address reaches the limit.
    if (n === limits.keyGuesses) {
      await store.flagAbuse("key_guessing", `ip:${vault.addressTag(caller.ip)}`, {
        instance_id: caller.instanceId,
        last_key_prefix: key.slice(0, 20),
      });
    }
  };

  const finish = async (
    endpoint: string,
    caller: Caller,
    input: Omit<AnswerInput, "effective" | "now" | "instanceId"> & { now: Date },
    record: boolean,
  ): Promise<BuiltAnswer> => {
    const granted = input.reason === "VALID" && input.license !== null;
    const effective = await policies.get(granted ? (input.license as SeatLicense).tier : FREE_TIER);
    const built = buildAnswer(signer, { ...input, instanceId: caller.instanceId, effective });
    metrics.answers.inc({ endpoint, reason: input.reason });
    if (FAILED_REQUESTS.has(input.reason)) await abuse.hit("instance_errors", caller.instanceId, 3600);
    if (record && built.lease) {
      await store.recordLease({
        jti: built.lease.jti,
        instanceId: caller.instanceId,
        licenseId: input.license?.id ?? null,
        tier: effective.tier,
        reason: input.reason,
        fingerprintDigest: input.fingerprintDigest,
        nonce: input.nonce,
        kid: built.lease.kid,
        issuedAt: built.lease.issuedAt,
        notAfter: built.lease.notAfter,
      });
    }
    return built;
  };

  // A key that is not the instance's seat's: unknown (a guess or a typo), revoked, or real but not here.
  const lookupKey = async (
    caller: Caller,
    key: string,
  ): Promise<{ reason: ReasonCode; license: SeatLicense | null }> => {
    const gate = await guessGate(caller, key);
    const license = parseLicenseKey(key) ? await store.licenseByKeyHash(hashLicenseKey(key)) : undefined;
    if (!license) {
      await unknownKey(caller, key, gate);
      return { reason: "NOT_FOUND", license: null };
    }
    return { reason: license.revoked ? "REVOKED" : "NOT_ACTIVATED", license };
  };

  const stateOf = async (instanceId: string): Promise<{ state: SeatState; hit: boolean }> => {
    const { state, hit } = await cache.get(instanceId);
    if (!state) throw new LicensingError("INSTANCE_NOT_FOUND", "the token's instance is not registered");
    return { state, hit };
  };

  // One component changed is accepted, and the seat follows it, so a second change later is judged against
  // the machine as it is now.
  const followDrift = async (
    activationId: string,
    instanceId: string,
    stored: FingerprintComponents,
    presented: FingerprintComponents,
  ) => {
    await store.replaceComponents(activationId, driftedComponents(stored, presented));
    await cache.invalidate([instanceId]);
  };

  // The design's validate body has no fingerprint: the lease is bound to the instance's registered hwid
  // (a digest of it), and a body hwid that is not the registered one is another machine.
  const hwidBinding = async (caller: Caller, presented: string | undefined) => {
    const { rows } = await pool.query<{ hwid: string }>("SELECT hwid FROM instances WHERE id = $1", [
      caller.instanceId,
    ]);
    const hwid = rows[0]?.hwid ?? "";
    return { digest: hwidDigest(hwid), mismatch: presented !== undefined && presented !== hwid };
  };

  const validateOnce = async (endpoint: string, caller: Caller, req: LicenseRequest, now: Date) => {
    // The throttle check and the state read are independent: one Redis round trip for both.
    const [, { state, hit }] = await Promise.all([refuseIfThrottled(caller), stateOf(caller.instanceId)]);
    const keyHash = req.licenseKey === undefined ? undefined : hashLicenseKey(req.licenseKey);
    const d = decide(state, { keyHash, components: req.components }, now.getTime(), deadAfterMs);
    const byHwid = req.components ? undefined : await hwidBinding(caller, req.hwid);
    const digest = byHwid ? byHwid.digest : fingerprintDigest(req.components as FingerprintComponents);
    const binding: AnswerBinding = {
      lease: byHwid ? "hwid" : "fingerprint",
      nonce: req.nonce === undefined ? "server" : "client",
    };
    const nonce = req.nonce ?? randomBytes(16).toString("base64url");
    if (d.kind === "lookup_key") {
      const found = await lookupKey(caller, req.licenseKey as string);
      return finish(endpoint, caller, { ...found, nonce, fingerprintDigest: digest, binding, now }, true);
    }
    let reason = d.reason;
    if (byHwid?.mismatch && !STOPPING_REASONS.has(reason) && d.seat) reason = "FINGERPRINT_MISMATCH";
    if (reason === "BANNED" && d.seat?.fingerprintBanned) metrics.abuse.inc({ rule: "banned_fingerprint" });
    if (reason === "VALID" && d.seat && d.match && d.match.changed.length > 0 && req.components) {
      await followDrift(d.seat.activationId, caller.instanceId, d.seat.components, req.components);
    }
    const license = d.seat?.license ?? null;
    // Leases answered from the cache are not recorded: the warm path stays free of writes (see 0003).
    return finish(
      endpoint,
      caller,
      { reason, license, nonce, fingerprintDigest: digest, binding, now },
      !hit,
    );
  };

  return {
    async validate(caller, req) {
      return (await validateOnce("validate", caller, req, clock())).body;
    },

    async activate(caller, req) {
      const [, gate] = await Promise.all([refuseIfThrottled(caller), guessGate(caller, req.licenseKey)]);
      const now = clock();
      const digest = fingerprintDigest(req.components);
      const answer = (reason: ReasonCode, license: SeatLicense | null, record = false) =>
        finish(
          "activate",
          caller,
          { reason, license, nonce: req.nonce, fingerprintDigest: digest, now },
          record,
        );
      if (!parseLicenseKey(req.licenseKey)) {
        await unknownKey(caller, req.licenseKey, gate);
        return (await answer("NOT_FOUND", null)).body;
      }
      const outcome = await takeSeat(pool, {
        instanceId: caller.instanceId,
        keyHash: hashLicenseKey(req.licenseKey),
        components: req.components,
        digest,
        now,
        ipSealed: caller.ip ? vault.sealAddress(caller.ip) : null,
        country: countryOf(caller.ip),
        userAgent: caller.userAgent,
        deadSeconds: limits.heartbeatDeadSeconds,
        maxInstancesPerFingerprint: limits.maxInstancesPerFingerprint,
      });
      if (outcome.freed) metrics.seatsFreed.inc({ reason: "heartbeat_dead" }, outcome.freed);
      if (outcome.replaced) metrics.seatsFreed.inc({ reason: "replaced" });
      if (outcome.fingerprintBanned) metrics.abuse.inc({ rule: "banned_fingerprint" });
      if (outcome.clones !== undefined) metrics.abuse.inc({ rule: "fingerprint_clones" });
      await cache.invalidate(outcome.touched);
      if (outcome.clones !== undefined) {
        await store.flagAbuse("fingerprint_clones", digest, {
          instance_id: caller.instanceId,
          instances: outcome.clones,
        });
      }
      if (outcome.reason === "NOT_FOUND") await unknownKey(caller, req.licenseKey, gate);
      return (await answer(outcome.reason, outcome.license, true)).body;
    },

    async heartbeat(caller, req) {
      await refuseIfThrottled(caller);
      const now = clock();
      const { state } = await stateOf(caller.instanceId);
      const d = decide(state, { components: req.components }, now.getTime(), deadAfterMs);
      if (d.kind !== "answer") throw new Error("a heartbeat carries no key to look up");
      let reason = d.reason;
      const live = d.seat && d.seat.endedReason === null ? d.seat : null;
      if (live && (reason === "VALID" || reason === "EXPIRED")) {
        // Freed by a sweep between the read and the write.
        if (!(await store.beat(live.activationId, now))) reason = "HEARTBEAT_DEAD";
        await cache.invalidate([caller.instanceId]);
      }
      await store.touchInstance(caller.instanceId, now);
      const digest = req.components ? fingerprintDigest(req.components) : (live?.fingerprintDigest ?? null);
      const binding: AnswerBinding = {
        lease: digest === null ? "none" : "fingerprint",
        nonce: req.nonce === undefined ? "server" : "client",
      };
      const nonce = req.nonce ?? randomBytes(16).toString("base64url");
      const built = await finish(
        "heartbeat",
        caller,
        { reason, license: d.seat?.license ?? null, nonce, fingerprintDigest: digest, binding, now },
        true,
      );
      return { ...built.body, ...heartbeatPlan(reason, now.getTime(), limits.heartbeatIntervalSeconds) };
    },

    async deactivate(caller) {
      const now = clock();
      const result = await store.deactivateSelf(caller.instanceId, now);
      metrics.seatsFreed.inc({ reason: "self" });
      await cache.invalidate([caller.instanceId]);
      return {
        instance_id: caller.instanceId,
        license_id: result.licenseId,
        deactivated_at: now.toISOString(),
        transfers_left: result.left,
      };
    },

    async reapDeadSeats() {
      const now = clock();
      const freed = await store.freeDeadSeats(limits.heartbeatDeadSeconds, now);
      if (freed.length) {
        metrics.seatsFreed.inc({ reason: "heartbeat_dead" }, freed.length);
        await cache.invalidate(freed);
      }
      // Instances whose license expired or was revoked run as Starter: what enrichment and tokens read.
      await store.demoteLapsed(now);
      return freed.length;
    },
  };
}
