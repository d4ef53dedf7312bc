import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/** One dependency check: resolves when the dependency answers, rejects otherwise. */
export interface HealthCheck {
  /** The check itself; it is given a deadline by the plugin. */
  run: () => Promise<unknown>;
  /** Whether readiness fails when this check fails. */
  required: boolean;
  /** The route that reports only this check, e.g. /health/db. */
  path: string;
}

/** Options of the health plugin. */
export interface HealthOptions {
  checks: Record<string, HealthCheck>;
  /** Deadline of each check in ms. */
  timeoutMs?: number;
  /** Retry-After seconds sent with a 503. */
  retryAfterSeconds: number;
}

interface CheckResult {
  ok: boolean;
  required: boolean;
  latency_ms: number;
  error?: string;
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.run(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, required: check.required, latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return {
      ok: false,
      required: check.required,
      latency_ms: Math.round(performance.now() - started),
      error: (err as Error).message,
    };
  } finally {
    clearTimeout(timer);
  }
}

const checkResult = {
  type: "object",
  required: ["ok", "required", "latency_ms"],
  properties: {
    ok: { type: "boolean" },
    required: { type: "boolean" },
    latency_ms: { type: "integer" },
    error: { type: "string" },
  },
} as const;
const healthBody = {
  type: "object",
  required: ["status"],
  properties: { status: { type: "string", enum: ["live", "ready", "not_ready", "up", "down"] } },
  additionalProperties: {
    anyOf: [checkResult, { type: "object", additionalProperties: checkResult }],
  },
} as const;

/** The documented schema of a health route: 200 when healthy, 503 (with Retry-After) when not. */
function healthSchema(summary: string) {
  return { summary, tags: ["health"], response: { 200: healthBody, 503: healthBody } };
}

/**
 * /health/live (the process runs), /health/ready (every required dependency answers, each within
 * timeoutMs) and one route per dependency. A failing required check makes /health/ready 503 with
 * Retry-After; optional ones are reported only on their own route.
 */
async function health(app: FastifyInstance, opts: HealthOptions) {
  const timeoutMs = opts.timeoutMs ?? 1500;
  app.get("/health/live", { schema: healthSchema("The process runs") }, async () => ({ status: "live" }));
  app.get(
    "/health/ready",
    { schema: healthSchema("Every required dependency answers") },
    async (_req, reply) => {
      // Only what readiness depends on: an optional dependency that hangs must not delay the answer.
      const names = Object.keys(opts.checks).filter((n) => opts.checks[n]?.required);
      const results = await Promise.all(names.map((n) => runCheck(opts.checks[n] as HealthCheck, timeoutMs)));
      const checks = Object.fromEntries(names.map((n, i) => [n, results[i]]));
      const ready = results.every((r) => r.ok || !r.required);
      if (!ready) reply.code(503).header("retry-after", String(opts.retryAfterSeconds));
      return { status: ready ? "ready" : "not_ready", checks };
    },
  );
  for (const [name, check] of Object.entries(opts.checks)) {
    app.get(check.path, { schema: healthSchema(`The ${name} dependency answers`) }, async (_req, reply) => {
      const result = await runCheck(check, timeoutMs);
      if (!result.ok) reply.code(503).header("retry-after", String(opts.retryAfterSeconds));
      return { status: result.ok ? "up" : "down", [name]: result };
    });
  }
}

/** The health routes as a plugin. */
export default fp(health, { name: "smstats-health" });
