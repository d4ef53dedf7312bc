import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { repoRoot } from "../../lib/config/index.ts";
import { testIngest } from "../support/app.ts";
import { registerInstance } from "../support/instance-client.ts";

// `smstats instance erase <id>`: runs the erasure job to its end at the terminal, audited as the operator;
// a second run answers the same job, done, and changes nothing; bad ids get one line and the right exit.

function smstats(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repoRoot, "bin/smstats.mjs"), ...args],
      { cwd: repoRoot, env: process.env, timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let app: FastifyInstance;
let deps: IngestDeps;
beforeAll(async () => {
  ({ app, deps } = await testIngest());
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

describe("smstats instance erase", () => {
  it("erases an instance to the end, audited as the operator; a second run is a no-op", async () => {
    const inst = await registerInstance(app);
    const first = await smstats(["instance", "erase", inst.instanceId, "--json", "--as", "ticket-42"]);
    expect(first.code, first.stderr).toBe(0);
    const job = JSON.parse(first.stdout) as {
      job_id: string;
      status: string;
      removed: Record<string, number>;
    };
    expect(job.status).toBe("done");
    expect(job.removed["postgres.instances"]).toBe(1);
    const gone = await deps.pg.query("SELECT 1 FROM instances WHERE id = $1", [inst.instanceId]);
    expect(gone.rowCount).toBe(0);

    const second = await smstats(["instance", "erase", inst.instanceId, "--json"]);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ job_id: job.job_id, status: "done" });
    const audit = await deps.pg.query(
      "SELECT actor, changes FROM audit_log WHERE action = 'instance.erase' AND target_id = $1",
      [inst.instanceId],
    );
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0].actor).toMatch(/^cli:.+\(ticket-42\)$/);
    expect(audit.rows[0].changes).toEqual({ job_id: job.job_id, requested_via: "cli" });
  }, 180_000);

  it("answers an unknown instance and a malformed id in one line", async () => {
    const unknown = await smstats(["instance", "erase", randomUUID()]);
    expect(unknown.stderr.trim()).toMatch(/^smstats: INSTANCE_NOT_FOUND: .+ — .+$/);
    expect(unknown.code).toBe(1);
    const bad = await smstats(["instance", "erase", "not-an-id"]);
    expect(bad.stderr.trim()).toMatch(/^smstats: ARGUMENTS_INVALID: .+ — .+$/);
    expect(bad.code).toBe(2);
  }, 120_000);
});
