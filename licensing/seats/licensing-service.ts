import type pg from "pg";
import type { AbuseGuard } from "../abuse/index.ts";
import { type FingerprintComponents, fingerprintDigest, parseLicenseKey } from "../client/index.ts";
import { LicensingError } from "../errors.ts";
import { withTransaction } from "../instances/index.ts";
import { hashLicenseKey } from "../licenses/license-key.ts";
import type { LicensingMetrics } from "../metrics.ts";
import { FREE_TIER, type PolicyBook } from "../policies/index.ts";
import type { AnswerSigner } from "../signing/index.ts";
import { type AnswerInput, type BuiltAnswer, buildAnswer, type LicenseAnswerBody } from "./answer.ts";
import { decide, type ReasonCode, STOPPING_REASONS } from "./decide.ts";
import type { SeatCache } from "./seat-cache.ts";
import type { SeatLicense, SeatState } from "./seat-state.ts";
import { insertComponents, takeSeat } from "./take-seat.ts";

/** Limits of the licensing service (see SMSTATS_LICENSE_* in lib/config/env.ts). */
export interface LicensingLimits {
  heartbeatIntervalSeconds: number;
  heartbeatDeadSeconds: number;
  keyGuesses: number;
  keyGuessWindowSeconds: number;
  errorsPerHour: number;
  maxInstancesPerFingerprint: number;
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
  nonce: string;
  components: FingerprintComponents;
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
  activate(caller: Caller, req: LicenseRequest & { licenseKey: string }): Promise<LicenseAnswerBody>;
  validate(caller: Caller, req: LicenseRequest): Promise<LicenseAnswerBody>;
  heartbeat(
    caller: Caller,
    req: { nonce: string; components?: FingerprintComponents },
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
  clock?: () => Date;
}

const TRANSFER_WINDOW_MS = 30 * 86_400_000;

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

/** The licensing service over PostgreSQL (truth), Redis (cache, counters) and the signing key. */
export function createLicensingService(deps: LicensingServiceDeps): LicensingService {
  const { pool, cache, policies, signer, abuse, metrics, limits } = deps;
  const clock = deps.clock ?? (() => new Date());
  const deadAfterMs = limits.heartbeatDeadSeconds * 1000;

  const refuseIfThrottled = async (caller: Caller) => {
    const v = await abuse.check("instance_errors", caller.instanceId, limits.errorsPerHour);
    if (v.blocked) {
      throw new LicensingError("TOO_MANY_ERRORS", "too many failed licensing requests from this instance", {
        retryAfterSeconds: v.retryAfterSeconds,
      });
    }
  };
  const refuseIfGuessing = async (caller: Caller) => {
    const v = await abuse.check("key_guessing", caller.ip, limits.keyGuesses);
    if (v.blocked) {
      throw new LicensingError("KEY_GUESSING", "too many unknown license keys from this address", {
        retryAfterSeconds: v.retryAfterSeconds,
      });
    }
  };
  const countGuess = async (caller: Caller, key: string) => {
    const n = await abuse.hit("key_guessing", caller.ip, limits.keyGuessWindowSeconds);
    // Flagged once per window, when the address reaches the limit.
    if (n === limits.keyGuesses) {
      await pool.query("INSERT INTO abuse_flags (rule, subject, details) VALUES ('key_guessing', $1, $2)", [
        caller.ip,
        { instance_id: caller.instanceId, last_key_prefix: key.slice(0, 20) },
      ]);
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
      await pool.query(
        `INSERT INTO leases (id, instance_id, license_id, activation_id, tier, reason, fingerprint_digest, nonce,
           kid, issued_at, not_after)
         VALUES ($1, $2, $3, (SELECT id FROM license_activations WHERE instance_id = $2 AND deactivated_at IS NULL),
           $4, $5, $6, $7, $8, $9, $10)`,
        [
          built.lease.jti,
          caller.instanceId,
          input.license?.id ?? null,
          effective.tier,
          input.reason,
          input.fingerprintDigest,
          input.nonce,
          built.lease.kid,
          built.lease.issuedAt,
          built.lease.notAfter,
        ],
      );
    }
    return built;
  };

  // A key that is not the instance's seat's: unknown (a guess or a typo), revoked, or real but not here.
  const lookupKey = async (
    caller: Caller,
    key: string,
  ): Promise<{ reason: ReasonCode; license: SeatLicense | null }> => {
    await refuseIfGuessing(caller);
    if (!parseLicenseKey(key)) {
      await countGuess(caller, key);
      return { reason: "NOT_FOUND", license: null };
    }
    const { rows } = await pool.query(
      "SELECT id, license_key, tier, expires_at, COALESCE(is_revoked, false) AS revoked FROM licenses WHERE license_key = $1",
      [hashLicenseKey(key)],
    );
    const r = rows[0];
    if (!r) {
      await countGuess(caller, key);
      return { reason: "NOT_FOUND", license: null };
    }
    const license = {
      id: r.id,
      keyHash: r.license_key,
      tier: r.tier,
      expiresAt: r.expires_at ? (r.expires_at as Date).getTime() : null,
      revoked: r.revoked,
    };
    return { reason: r.revoked ? "REVOKED" : "NOT_ACTIVATED", license };
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
    // Components the instance did not send this time are kept; changed and new ones are taken.
    const components = { ...stored, ...presented };
    await withTransaction(pool, async (c) => {
      await c.query("DELETE FROM activation_components WHERE activation_id = $1", [activationId]);
      await insertComponents(c, activationId, components);
      await c.query("UPDATE license_activations SET fingerprint_digest = $2 WHERE id = $1", [
        activationId,
        fingerprintDigest(components),
      ]);
    });
    await cache.invalidate([instanceId]);
  };

  const validateOnce = async (endpoint: string, caller: Caller, req: LicenseRequest, now: Date) => {
    // The throttle check and the state read are independent: one Redis round trip for both.
    const [, { state, hit }] = await Promise.all([refuseIfThrottled(caller), stateOf(caller.instanceId)]);
    const keyHash = req.licenseKey === undefined ? undefined : hashLicenseKey(req.licenseKey);
    const d = decide(state, { keyHash, components: req.components }, now.getTime(), deadAfterMs);
    const digest = fingerprintDigest(req.components);
    if (d.kind === "lookup_key") {
      const found = await lookupKey(caller, req.licenseKey as string);
      return finish(endpoint, caller, { ...found, nonce: req.nonce, fingerprintDigest: digest, now }, true);
    }
    if (d.reason === "BANNED" && d.seat?.fingerprintBanned) metrics.abuse.inc({ rule: "banned_fingerprint" });
    if (d.reason === "VALID" && d.seat && d.match && d.match.changed.length > 0) {
      await followDrift(d.seat.activationId, caller.instanceId, d.seat.components, req.components);
    }
    const license = d.seat?.license ?? null;
    // Leases answered from the cache are not recorded: the warm path stays free of writes (see 0003).
    return finish(
      endpoint,
      caller,
      { reason: d.reason, license, nonce: req.nonce, fingerprintDigest: digest, now },
      !hit,
    );
  };

  return {
    async validate(caller, req) {
      return (await validateOnce("validate", caller, req, clock())).body;
    },

    async activate(caller, req) {
      await refuseIfThrottled(caller);
      await refuseIfGuessing(caller);
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
        await countGuess(caller, req.licenseKey);
        return (await answer("NOT_FOUND", null)).body;
      }
      const outcome = await takeSeat(pool, {
        instanceId: caller.instanceId,
        keyHash: hashLicenseKey(req.licenseKey),
        components: req.components,
        digest,
        now,
        ip: caller.ip,
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
        await pool.query(
          "INSERT INTO abuse_flags (rule, subject, details) VALUES ('fingerprint_clones', $1, $2)",
          [digest, { instance_id: caller.instanceId, instances: outcome.clones }],
        );
      }
      if (outcome.reason === "NOT_FOUND") await countGuess(caller, req.licenseKey);
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
        const beat = await pool.query(
          "UPDATE license_activations SET last_heartbeat_at = $2 WHERE id = $1 AND deactivated_at IS NULL",
          [live.activationId, now],
        );
        // Freed by a sweep between the read and the write.
        if (!beat.rowCount) reason = "HEARTBEAT_DEAD";
        await cache.invalidate([caller.instanceId]);
      }
      await pool.query("UPDATE instances SET last_seen_at = $2 WHERE id = $1", [caller.instanceId, now]);
      const digest = req.components ? fingerprintDigest(req.components) : (live?.fingerprintDigest ?? null);
      const built = await finish(
        "heartbeat",
        caller,
        { reason, license: d.seat?.license ?? null, nonce: req.nonce, fingerprintDigest: digest, now },
        true,
      );
      return {
        ...built.body,
        continue: !STOPPING_REASONS.has(reason),
        next_heartbeat_at: new Date(now.getTime() + limits.heartbeatIntervalSeconds * 1000).toISOString(),
      };
    },

    async deactivate(caller) {
      const now = clock();
      const result = await withTransaction(pool, async (c) => {
        const { rows } = await c.query(
          `SELECT a.id, a.license_id, p.transfers_per_30_days AS cap
           FROM license_activations a JOIN licenses l ON l.id = a.license_id JOIN tier_policies p ON p.tier = l.tier
           WHERE a.instance_id = $1 AND a.deactivated_at IS NULL FOR UPDATE OF l, a`,
          [caller.instanceId],
        );
        const seat = rows[0];
        if (!seat) throw new LicensingError("NOT_ACTIVATED", "this instance holds no license seat");
        const since = new Date(now.getTime() - TRANSFER_WINDOW_MS);
        const done = await c.query(
          `SELECT count(*)::int AS n, min(deactivated_at) AS oldest FROM license_activations
           WHERE license_id = $1 AND deactivation_reason = 'self' AND deactivated_at > $2`,
          [seat.license_id, since],
        );
        const used: number = done.rows[0].n;
        if (used >= seat.cap) {
          const oldest = (done.rows[0].oldest as Date | null)?.getTime() ?? now.getTime();
          throw new LicensingError(
            "TRANSFER_LIMIT",
            `this license was moved ${used} times in 30 days, the most its tier allows`,
            {
              retryAfterSeconds: Math.max(1, Math.ceil((oldest + TRANSFER_WINDOW_MS - now.getTime()) / 1000)),
            },
          );
        }
        await c.query(
          "UPDATE license_activations SET deactivated_at = $2, deactivation_reason = 'self' WHERE id = $1",
          [seat.id, now],
        );
        await c.query("UPDATE instances SET tier = 'starter' WHERE id = $1", [caller.instanceId]);
        return { licenseId: seat.license_id as string, left: seat.cap - used - 1 };
      });
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
      const { rows } = await pool.query(
        `WITH dead AS (
           UPDATE license_activations SET deactivated_at = $2, deactivation_reason = 'heartbeat_dead'
           WHERE deactivated_at IS NULL AND last_heartbeat_at < $2::timestamptz - make_interval(secs => $1)
           RETURNING instance_id)
         UPDATE instances SET tier = 'starter' WHERE id IN (SELECT instance_id FROM dead) RETURNING id`,
        [limits.heartbeatDeadSeconds, now],
      );
      if (rows.length) {
        metrics.seatsFreed.inc({ reason: "heartbeat_dead" }, rows.length);
        await cache.invalidate(rows.map((r) => r.id));
      }
      // Instances whose license expired or was revoked run as Starter: what enrichment and tokens read.
      await pool.query(
        `UPDATE instances SET tier = 'starter' WHERE tier <> 'starter' AND id IN (
           SELECT a.instance_id FROM license_activations a JOIN licenses l ON l.id = a.license_id
           WHERE a.deactivated_at IS NULL AND (COALESCE(l.is_revoked, false) OR l.expires_at <= $1))`,
        [now],
      );
      return rows.length;
    },
  };
}
