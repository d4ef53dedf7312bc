import { randomUUID } from "node:crypto";
import type pg from "pg";
import {
  type Actor,
  LicensingError,
  type SecretBox,
  withTransaction,
  writeAudit,
} from "../../licensing/index.ts";
import type { PiiVault } from "../../licensing/keys/pii-vault.ts";
import { type ErasureSubject, instanceRef, loadSubject } from "./subject.ts";

/** The steps of an erasure, in the order they run (see run-erasure.ts for why this order). */
export const ERASURE_STEPS = ["postgres", "redis", "jetstream", "clickhouse"] as const;
/** One step of an erasure. */
export type ErasureStep = (typeof ERASURE_STEPS)[number];

/** What the status endpoint shows of a job: nothing that identifies the instance. */
export interface ErasureStatus {
  job_id: string;
  status: "pending" | "running" | "done";
  /** The last step that finished ("" before the first). */
  step: ErasureStep | "";
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  /** Rows, keys and messages removed, per store. */
  removed: Record<string, number>;
}

/** A job claimed by one process, with its subject opened. */
export interface ClaimedJob {
  id: string;
  step: ErasureStep | "";
  subject: ErasureSubject;
}

const STATUS_COLUMNS = "id, status, step, created_at, started_at, finished_at, attempts, removed";

type Row = {
  id: string;
  status: ErasureStatus["status"];
  step: ErasureStatus["step"];
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  attempts: number;
  removed: Record<string, number>;
};

function toStatus(r: Row): ErasureStatus {
  return {
    job_id: r.id,
    status: r.status,
    step: r.step,
    created_at: r.created_at.toISOString(),
    started_at: r.started_at?.toISOString() ?? null,
    finished_at: r.finished_at?.toISOString() ?? null,
    attempts: r.attempts,
    removed: r.removed,
  };
}

const sealContext = (jobId: string) => `erasure_jobs.subject:${jobId}`;

/**
 * Records an erasure request: a job for the instance and one audit entry (who, when, the job id; not the
 * hwid, e-mail or address), in one transaction. Idempotent: a second request for the same instance,
 * running or done, returns the first job and writes nothing. `created` tells the two apart.
 */
export async function requestErasure(
  pool: pg.Pool,
  vault: PiiVault,
  input: { instanceId: string; actor: Actor; via: "instance" | "api" | "cli" },
): Promise<{ job: ErasureStatus; created: boolean }> {
  const ref = instanceRef(input.instanceId);
  return withTransaction(pool, async (c) => {
    // Serialises two requests for one instance: the second waits, then finds the first one's job.
    await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [ref]);
    const existing = await c.query<Row>(
      `SELECT ${STATUS_COLUMNS} FROM erasure_jobs WHERE instance_ref = $1`,
      [ref],
    );
    if (existing.rows[0]) return { job: toStatus(existing.rows[0]), created: false };
    const subject = await loadSubject(c, vault, input.instanceId);
    if (!subject) throw new LicensingError("INSTANCE_NOT_FOUND", "no such instance");
    const id = randomUUID();
    const sealed = vault.box.seal(Buffer.from(JSON.stringify(subject)), sealContext(id));
    const { rows } = await c.query<Row>(
      `INSERT INTO erasure_jobs (id, instance_ref, subject_sealed, requested_by, requested_via)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${STATUS_COLUMNS}`,
      [id, ref, sealed, input.actor.name, input.via],
    );
    await writeAudit(
      c,
      input.actor,
      "instance.erase",
      { type: "instance", id: input.instanceId },
      { job_id: id, requested_via: input.via },
    );
    return { job: toStatus(rows[0] as Row), created: true };
  });
}

/** The status of a job, or undefined. */
export async function erasureStatus(pool: pg.Pool, jobId: string): Promise<ErasureStatus | undefined> {
  const { rows } = await pool.query<Row>(`SELECT ${STATUS_COLUMNS} FROM erasure_jobs WHERE id = $1`, [jobId]);
  return rows[0] ? toStatus(rows[0]) : undefined;
}

/** The store of erasure jobs as one process (the lease owner) works them. */
export interface ErasureJobStore {
  /** Claims the oldest job that is pending or whose lease ran out (or the given one), or undefined. */
  claim(jobId?: string): Promise<ClaimedJob | undefined>;
  /** Extends the lease; false when another process took the job over. */
  renew(jobId: string): Promise<boolean>;
  /** Records a finished step and what it removed; false when the lease was lost. */
  advance(jobId: string, step: ErasureStep, removed: Record<string, number>): Promise<boolean>;
  /** Marks the job done and forgets its subject. */
  finish(jobId: string): Promise<void>;
  /** Releases a job for another claim after `retryMs`, keeping the (redacted) error of a failure ("" for none). */
  release(jobId: string, error: string, retryMs: number): Promise<void>;
}

/** The job store for lease owner `owner` (e.g. "ingest:<host>:<pid>"). */
export function createErasureJobStore(
  pool: pg.Pool,
  box: SecretBox,
  owner: string,
  leaseMs: number,
): ErasureJobStore {
  return {
    async claim(jobId) {
      const { rows } = await pool.query<{ id: string; step: ClaimedJob["step"]; subject_sealed: Buffer }>(
        `UPDATE erasure_jobs SET status = 'running', lease_owner = $1,
                lease_until = now() + $2 * interval '1 millisecond', attempts = attempts + 1,
                started_at = coalesce(started_at, now())
         WHERE id = (SELECT id FROM erasure_jobs
                     WHERE (status = 'pending' OR (status = 'running' AND lease_until < now()))
                       AND ($3::uuid IS NULL OR id = $3)
                     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING id, step, subject_sealed`,
        [owner, leaseMs, jobId ?? null],
      );
      const r = rows[0];
      if (!r) return undefined;
      const subject = JSON.parse(box.open(r.subject_sealed, sealContext(r.id)).toString()) as ErasureSubject;
      return { id: r.id, step: r.step, subject };
    },
    async renew(jobId) {
      const r = await pool.query(
        `UPDATE erasure_jobs SET lease_until = now() + $3 * interval '1 millisecond'
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
        [jobId, owner, leaseMs],
      );
      return r.rowCount === 1;
    },
    async advance(jobId, step, removed) {
      const r = await pool.query(
        `UPDATE erasure_jobs SET step = $3, removed = removed || $4::jsonb,
                lease_until = now() + $5 * interval '1 millisecond'
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
        [jobId, owner, step, JSON.stringify(removed), leaseMs],
      );
      return r.rowCount === 1;
    },
    async finish(jobId) {
      await pool.query(
        `UPDATE erasure_jobs SET status = 'done', finished_at = now(), subject_sealed = NULL,
                lease_owner = NULL, lease_until = NULL, last_error = NULL
         WHERE id = $1 AND lease_owner = $2`,
        [jobId, owner],
      );
    },
    async release(jobId, error, retryMs) {
      await pool.query(
        `UPDATE erasure_jobs SET lease_owner = NULL, last_error = nullif($3, ''),
                lease_until = now() + $4 * interval '1 millisecond'
         WHERE id = $1 AND lease_owner = $2`,
        [jobId, owner, error.slice(0, 1000), retryMs],
      );
    },
  };
}
