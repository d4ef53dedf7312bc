import { pipeline } from "node:stream";
import { createGzip } from "node:zlib";
import type { FastifyInstance, FastifyReply } from "fastify";
import type pg from "pg";
import { HttpErrors } from "../../../../lib/http/index.ts";
import type { Actor, SecretBox } from "../../../../licensing/index.ts";
import type { PiiVault } from "../../../../licensing/keys/pii-vault.ts";
import {
  type ErasureStatus,
  type ExportDeps,
  erasureStatus,
  instanceExport,
  requestErasure,
} from "../../../../privacy/index.ts";
import { callerOf } from "../auth/license.ts";
import {
  ERASURE_DESCRIPTION,
  EXPORT_DESCRIPTION,
  erasureStatusSchema,
  errorResponses,
  exportResponses,
  instanceIdParams,
} from "./privacy-schemas.ts";

/** What the privacy routes need. */
export interface PrivacyRoutesOptions {
  pool: pg.Pool;
  box: SecretBox;
  /** Opens the sealed e-mail and addresses an erasure looks for (licensing/keys/pii-vault.ts). */
  vault: PiiVault;
  /** Tells this process's erasure worker a job is waiting. */
  wake: () => void;
  exportDeps: ExportDeps;
}

/** Records an erasure and answers its job: 202 while it runs, 200 once done (a repeated request). */
export async function answerErasure(
  reply: FastifyReply,
  opts: PrivacyRoutesOptions,
  input: { instanceId: string; actor: Actor; via: "instance" | "api" },
): Promise<ErasureStatus> {
  const { job } = await requestErasure(opts.pool, opts.vault, input);
  if (job.status !== "done") opts.wake();
  reply.code(job.status === "done" ? 200 : 202).header("location", `/v1/erasures/${job.job_id}`);
  return job;
}

/** Streams an instance's export through gzip to the reply (backpressure end to end). */
export function sendExport(reply: FastifyReply, deps: ExportDeps, instanceId: string): FastifyReply {
  const body = pipeline(instanceExport(deps, instanceId), createGzip(), (err) => {
    if (err) reply.log.warn({ err }, "export stream failed; the answer was cut");
  });
  return reply
    .header("content-type", "application/gzip")
    .header("content-disposition", `attachment; filename="instance-${instanceId}.ndjson.gz"`)
    .header("cache-control", "no-store")
    .send(body);
}

/**
 * DELETE /v1/instances/{id}/data and GET /v1/instances/{id}/export: the instance's own erasure and export,
 * with its token and request signature ({id} must be the token's). The audit entry of a self-service
 * erasure names the instance as actor and keeps no client address.
 */
export async function instancePrivacyRoutes(app: FastifyInstance, opts: PrivacyRoutesOptions) {
  app.delete<{ Params: { id: string } }>(
    "/v1/instances/:id/data",
    {
      schema: {
        summary: "Erase everything stored about this instance",
        description: `${ERASURE_DESCRIPTION} Instance token and request signature required; {id} must be the token's. After the job's first step the instance's credentials no longer work: follow the job at GET /v1/erasures/{job}.`,
        tags: ["privacy"],
        params: instanceIdParams,
        response: { 200: erasureStatusSchema, 202: erasureStatusSchema, ...errorResponses },
      },
      config: { auth: "instance" },
    },
    async (request, reply) => {
      const caller = callerOf(request, request.params.id);
      return answerErasure(reply, opts, {
        instanceId: caller.instanceId,
        actor: { name: "instance:self", source: "api" },
        via: "instance",
      });
    },
  );
  app.get<{ Params: { id: string } }>(
    "/v1/instances/:id/export",
    {
      schema: {
        summary: "Export everything stored about this instance",
        description: `${EXPORT_DESCRIPTION} Instance token and request signature (over an empty body) required.`,
        tags: ["privacy"],
        params: instanceIdParams,
        response: exportResponses,
      },
      config: { auth: "instance" },
    },
    async (request, reply) =>
      sendExport(reply, opts.exportDeps, callerOf(request, request.params.id).instanceId),
  );
}

/**
 * GET /v1/erasures/{job}: an erasure job's progress. Open: the job id is an unguessable capability
 * handed to whoever asked for the erasure (the instance's own credentials stop working during the
 * job), and the answer holds nothing about the instance.
 */
export async function erasureStatusRoute(app: FastifyInstance, opts: { pool: pg.Pool }) {
  app.get<{ Params: { job: string } }>(
    "/v1/erasures/:job",
    {
      schema: {
        summary: "Follow an erasure job",
        description:
          "Status, last finished step and counts removed per store; nothing that identifies the instance.",
        tags: ["privacy"],
        params: {
          type: "object",
          required: ["job"],
          properties: { job: { type: "string", format: "uuid" } },
        },
        response: { 200: erasureStatusSchema, ...errorResponses },
      },
    },
    async (request) => {
      const job = await erasureStatus(opts.pool, request.params.job);
      if (!job) throw new HttpErrors.ERASURE_NOT_FOUND();
      return job;
    },
  );
}
