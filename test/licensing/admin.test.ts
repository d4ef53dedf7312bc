import { execFile } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../lib/config/index.ts";
import { loadKeyRing } from "../../licensing/index.ts";
import { registerInstance } from "../support/instance-client.ts";
import { adminToken, machine } from "./license-client.ts";
import { type LicensingHarness, licensingHarness } from "./licensing-app.ts";
import { tempDataDir } from "./temp-data-dir.ts";

const run = promisify(execFile);
let h: LicensingHarness;
beforeAll(async () => {
  h = await licensingHarness();
});
afterAll(async () => h?.close());

const audit = async (targetId: string) =>
  (
    await h.deps.pg.query(
      "SELECT actor, action, target_type, changes, source FROM audit_log WHERE target_id = $1 ORDER BY id",
      [targetId],
    )
  ).rows;

async function smstats(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [join(repoRoot, "bin/smstats.mjs"), ...args], {
    cwd: repoRoot,
    env: process.env,
  });
  return stdout;
}

describe("admin API", () => {
  it("refuses requests without a valid token or scope, changing nothing", async () => {
    const before = (await h.deps.pg.query("SELECT count(*)::int AS n FROM audit_log")).rows[0].n;
    const body = { tier: "venue", owner_email: "x@example.com" };
    const none = await h.adminCall("POST", "/v1/admin/licenses", body, null);
    expect([none.statusCode, none.json().error.code]).toEqual([401, "ADMIN_TOKEN_INVALID"]);
    const forged = await h.adminCall("POST", "/v1/admin/licenses", body, `smadm_${"A".repeat(43)}`);
    expect([forged.statusCode, forged.json().error.code]).toEqual([401, "ADMIN_TOKEN_INVALID"]);
    const instanceToken = (await registerInstance(h.app)).token;
    expect((await h.adminCall("GET", "/v1/admin/licenses", undefined, instanceToken)).statusCode).toBe(401);
    const reader = await adminToken(h.deps.pg, ["licenses:read"], "reader");
    const wrongScope = await h.adminCall("POST", "/v1/admin/licenses", body, reader);
    expect([wrongScope.statusCode, wrongScope.json().error.code]).toEqual([403, "ADMIN_SCOPE_MISSING"]);
    expect((await h.adminCall("GET", "/v1/admin/licenses?limit=1", undefined, reader)).statusCode).toBe(200);
    // Token creation is itself audited (+1); the refused requests added nothing.
    const after = (await h.deps.pg.query("SELECT count(*)::int AS n FROM audit_log")).rows[0].n;
    expect(after - before).toBe(1);
  });

  it("stops honouring a revoked token", async () => {
    const token = await adminToken(h.deps.pg, ["audit:read"], "short-lived");
    expect((await h.adminCall("GET", "/v1/admin/audit?limit=1", undefined, token)).statusCode).toBe(200);
    const { rows } = await h.deps.pg.query(
      "SELECT id FROM admin_tokens WHERE name = 'short-lived' ORDER BY created_at DESC LIMIT 1",
    );
    await smstats("admin", "token", "revoke", rows[0].id);
    expect((await h.adminCall("GET", "/v1/admin/audit?limit=1", undefined, token)).statusCode).toBe(401);
    expect((await audit(rows[0].id)).map((a) => a.action)).toEqual([
      "admin_token.create",
      "admin_token.revoke",
    ]);
  });

  it("audits every action with actor, time and what changed", async () => {
    const issued = await h.issue("venue", { notes: "festival" });
    const id = issued.license.id;
    const inst = await registerInstance(h.app);
    await h.ask(inst, "/v1/auth/activate", {
      license_key: issued.key,
      fingerprint: machine(inst.instanceId),
    });
    expect(
      (await h.adminCall("POST", `/v1/admin/licenses/${id}/revoke`, { reason: "refund" })).statusCode,
    ).toBe(200);
    expect(
      (await h.adminCall("POST", `/v1/admin/instances/${inst.instanceId}/ban`, { reason: "abuse" }))
        .statusCode,
    ).toBe(200);
    expect(
      (await h.adminCall("POST", `/v1/admin/instances/${inst.instanceId}/unban`, { reason: "appeal" }))
        .statusCode,
    ).toBe(200);
    expect(await audit(id)).toEqual([
      {
        actor: "token:test-admin",
        action: "license.issue",
        target_type: "license",
        source: "api",
        changes: expect.objectContaining({
          tier: "venue",
          max_instances: 5,
          key_hint: issued.license.key_hint,
        }),
      },
      {
        actor: "token:test-admin",
        action: "license.revoke",
        target_type: "license",
        source: "api",
        changes: { revoked: { from: false, to: true }, reason: "refund" },
      },
    ]);
    expect((await audit(inst.instanceId)).map((a) => [a.action, a.changes.banned])).toEqual([
      ["instance.ban", { from: false, to: true }],
      ["instance.unban", { from: true, to: false }],
    ]);
    // The key never reaches the audit log.
    expect(JSON.stringify(await audit(id))).not.toContain(issued.key);
    const api = await h.adminCall("GET", `/v1/admin/audit?target_id=${id}`);
    expect(api.json().map((a: { action: string }) => a.action)).toEqual(["license.revoke", "license.issue"]);
    expect(api.json()[0].at).toEqual(expect.any(String));
  });

  it("shows a license with its activations (address and user agent) and lists licenses", async () => {
    const issued = await h.issue("party_host", { owner_email: "show@example.com" });
    const inst = await registerInstance(h.app);
    await h.ask(inst, "/v1/auth/activate", {
      license_key: issued.key,
      fingerprint: machine(inst.instanceId),
    });
    const shown = (await h.adminCall("GET", `/v1/admin/licenses/${issued.license.id}`)).json();
    expect(shown).toMatchObject({ tier: "party_host", seats_used: 1, max_instances: 2 });
    expect(shown.activations).toEqual([
      expect.objectContaining({
        instance_id: inst.instanceId,
        ip_address: "127.0.0.1",
        user_agent: "SongMartyn/1.2.0 test",
      }),
    ]);
    // By key too, and the listing finds it by owner.
    expect((await h.adminCall("GET", `/v1/admin/licenses/${issued.key}`)).json().id).toBe(issued.license.id);
    const list = (await h.adminCall("GET", "/v1/admin/licenses?owner_email=show@example.com")).json();
    expect(list.map((l: { id: string }) => l.id)).toContain(issued.license.id);
    const instance = (await h.adminCall("GET", `/v1/admin/instances/${inst.instanceId}`)).json();
    expect(instance.seat).toMatchObject({
      license_id: issued.license.id,
      components: ["disk", "hostname", "mac", "machine_id"],
    });
  });

  it("answers 404 for unknown licenses and instances, 400 for an unknown tier", async () => {
    expect((await h.adminCall("GET", `/v1/admin/licenses/${crypto.randomUUID()}`)).json().error.code).toBe(
      "LICENSE_NOT_FOUND",
    );
    expect((await h.adminCall("GET", `/v1/admin/instances/${crypto.randomUUID()}`)).json().error.code).toBe(
      "INSTANCE_NOT_FOUND",
    );
    const bad = await h.adminCall("POST", "/v1/admin/licenses", {
      tier: "platinum",
      owner_email: "x@example.com",
    });
    expect([bad.statusCode, bad.json().error.code]).toEqual([400, "TIER_UNKNOWN"]);
  });
});

describe("smstats license and instance commands", () => {
  it("issue, show, list, revoke; ban, show, unban — each audited as the operator", async () => {
    const issued = JSON.parse(
      await smstats(
        "license",
        "issue",
        "--tier",
        "party_host",
        "--email",
        "cli@example.com",
        "--days",
        "30",
        "--json",
      ),
    );
    expect(issued.key).toMatch(/^SM-PARTY-\d{8}-[0-9A-Z]{20}$/);
    const id = issued.license.id;
    expect(JSON.parse(await smstats("license", "show", issued.key, "--json")).id).toBe(id);
    expect(await smstats("license", "list", "--email", "cli@example.com")).toContain(id);
    const revoked = JSON.parse(await smstats("license", "revoke", id, "--reason", "test", "--json"));
    expect(revoked.revoked).toBe(true);

    const inst = await registerInstance(h.app);
    expect(
      JSON.parse(await smstats("instance", "ban", inst.instanceId, "--reason", "spam", "--json")).banned,
    ).toBe(true);
    expect(JSON.parse(await smstats("instance", "show", inst.instanceId, "--json")).bans).toEqual([
      expect.objectContaining({ kind: "hwid", reason: "spam" }),
    ]);
    expect(
      JSON.parse(await smstats("instance", "unban", inst.instanceId, "--reason", "ok", "--json")).banned,
    ).toBe(false);

    const actions = [...(await audit(id)), ...(await audit(inst.instanceId))];
    expect(actions.map((a) => a.action)).toEqual([
      "license.issue",
      "license.revoke",
      "instance.ban",
      "instance.unban",
    ]);
    for (const a of actions)
      expect(a).toMatchObject({ source: "cli", actor: expect.stringMatching(/^cli:/) });
    expect(await smstats("admin", "audit", "--target-id", id)).toContain("license.revoke");
  });

  it("rotates the signing key, keeping the old public key published, audited", async () => {
    // A data folder of its own: the shared one's keys sign everybody's tokens.
    const data = tempDataDir();
    try {
      copyFileSync(join(h.config.dataDir, "stack.json"), join(data.dir, "stack.json"));
      const env = {
        ...process.env,
        SMSTATS_DATA_DIR: data.dir,
        SMSTATS_POSTGRES_WRITE_URL: h.config.postgres.writeUrl as string,
      };
      const before = (await loadKeyRing(data.dir)).current.kid;
      const { stdout } = await run(
        process.execPath,
        [join(repoRoot, "bin/smstats.mjs"), "admin", "keys", "rotate"],
        {
          cwd: repoRoot,
          env,
        },
      );
      const ring = await loadKeyRing(data.dir);
      expect(ring.current.kid).not.toBe(before);
      expect(stdout).toContain(ring.current.kid);
      expect(ring.jwks().keys.map((k) => k.kid)).toEqual([ring.current.kid, before]);
      expect((await audit(ring.current.kid)).map((a) => [a.action, a.changes.previous])).toEqual([
        ["signing_key.rotate", before],
      ]);
    } finally {
      data.remove();
    }
  });

  it("prints the usage and exits 2 on a malformed command", async () => {
    await expect(smstats("license", "revoke", "x")).rejects.toMatchObject({ code: 2 });
    await expect(smstats("instance", "ban")).rejects.toMatchObject({ code: 2 });
  });
});

describe("database roles", () => {
  it("lets the write role insert the audit log but never change or delete it", async () => {
    const c = new pg.Client({ connectionString: h.config.postgres.writeUrl });
    await c.connect();
    try {
      expect(new URL(h.config.postgres.writeUrl as string).username).toBe("smstats_write");
      await c.query(
        "INSERT INTO audit_log (actor, action, target_type, target_id, source) VALUES ('t', 't', 't', 't', 'cli')",
      );
      await expect(c.query("UPDATE audit_log SET actor = 'x'")).rejects.toMatchObject({ code: "42501" });
      await expect(c.query("DELETE FROM audit_log")).rejects.toMatchObject({ code: "42501" });
      await expect(c.query("CREATE TABLE nope (x int)")).rejects.toMatchObject({ code: "42501" });
      await expect(c.query("UPDATE tier_policies SET max_instances = 99")).rejects.toMatchObject({
        code: "42501",
      });
    } finally {
      await c.end();
    }
  });

  it("lets the read role read and nothing else", async () => {
    const c = new pg.Client({ connectionString: h.config.postgres.readUrl });
    await c.connect();
    try {
      expect((await c.query("SELECT count(*) FROM licenses")).rowCount).toBe(1);
      await expect(c.query("UPDATE licenses SET notes = 'x'")).rejects.toMatchObject({ code: "42501" });
      await expect(c.query("DELETE FROM instances")).rejects.toMatchObject({ code: "42501" });
    } finally {
      await c.end();
    }
  });
});

describe("OpenAPI", () => {
  it("documents the licensing and admin routes", async () => {
    const doc = (await h.app.inject({ method: "GET", url: "/docs/openapi.json" })).json();
    for (const path of [
      "/v1/auth/validate",
      "/v1/auth/activate",
      "/v1/auth/heartbeat",
      "/v1/instances/{id}",
      "/v1/keys",
      "/v1/admin/licenses",
      "/v1/admin/licenses/{ref}/revoke",
      "/v1/admin/instances/{id}/ban",
      "/v1/admin/audit",
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
    // Validate takes the design's own body (no nonce, no fingerprint); activate binds a seat to a machine.
    expect(
      doc.paths["/v1/auth/validate"].post.requestBody.content["application/json"].schema.required ?? [],
    ).toEqual([]);
    expect(
      doc.paths["/v1/auth/activate"].post.requestBody.content["application/json"].schema.required,
    ).toEqual(["license_key", "nonce", "fingerprint"]);
    expect(doc.components.securitySchemes.adminToken).toMatchObject({ type: "http", scheme: "bearer" });
  });
});
