import { execFile } from "node:child_process";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis } from "../../lib/clients/index.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { loadMigrations, postgresMigrationsDir } from "../../lib/migrate/index.ts";
import { nsName } from "../support/env.ts";

// `smstats` as an admin meets it: every command answers --help, and a wrong tier, a missing argument and
// an unmigrated stack each print one line with a code and a hint (never a stack trace).

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function smstats(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repoRoot, "bin/smstats.mjs"), ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

/** Asserts a failure is one line `smstats: CODE: … — hint` with the given code and exit code. */
function expectOneLine(r: Ran, code: string, exit: number): string {
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^smstats: ${code}: .+ — .+`));
  expect(r.code, r.stderr).toBe(exit);
  return lines[0] as string;
}

describe("smstats --help", { timeout: 180_000 }, () => {
  it("answers for the tool, every area and every command and subcommand in the tree", async () => {
    const top = await smstats(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/exit codes: 0 done/);
    // The command tree, read from the top-level usage: the words after `smstats` up to the first option
    // or operand, and every prefix of them (areas, `admin token`, …).
    const commands = new Set<string>();
    for (const line of top.stdout.split("\n")) {
      const m = /^\s+smstats ((?:[a-z][a-z-]*(?: |$))+)/.exec(line);
      if (!m) continue;
      const words = (m[1] as string).trim().split(" ");
      for (let n = 1; n <= words.length; n++) commands.add(words.slice(0, n).join(" "));
    }
    expect(commands.size).toBeGreaterThanOrEqual(30);
    for (const area of ["dlq", "license", "instance", "admin", "retention", "demo", "webhooks", "digest"])
      expect(commands).toContain(area);
    expect(commands).toContain("instance list");
    expect(commands).toContain("admin token create");
    const runs = await pool([...commands], 4, async (c) => ({
      c,
      r: await smstats([...c.split(" "), "--help"]),
    }));
    for (const { c, r } of runs) {
      expect(r.code, `${c}: ${r.stderr}`).toBe(0);
      expect(r.stderr, c).toBe("");
      expect(r.stdout, c).toMatch(/^usage:\n/);
      // Only the command's own lines (and its subcommands'), each starting with what was typed.
      const own = r.stdout.split("\n").filter((l) => /^\s+smstats /.test(l));
      expect(own.length, c).toBeGreaterThan(0);
      for (const l of own)
        expect(l.trim() === `smstats ${c}` || l.trim().startsWith(`smstats ${c} `), `${c}: ${l}`).toBe(true);
    }
    // -h is the same, also after options.
    const short = await smstats(["license", "issue", "--tier", "venue", "-h"]);
    expect([short.code, short.stdout.split("\n")[1]?.trim().startsWith("smstats license issue")]).toEqual([
      0,
      true,
    ]);
  });

  it("names an unknown area or command, or an unknown option, in one line (exit 2)", async () => {
    expect(expectOneLine(await smstats(["nope"]), "COMMAND_UNKNOWN", 2)).toMatch(/areas: .*license/);
    expect(expectOneLine(await smstats(["license", "frob"]), "COMMAND_UNKNOWN", 2)).toMatch(
      /issue, revoke, show, list/,
    );
    expect(expectOneLine(await smstats(["license", "list", "--bogus"]), "ARGUMENT_UNKNOWN", 2)).toMatch(
      /--bogus.*smstats license list --help/,
    );
    expectOneLine(await smstats([]), "ARGUMENT_MISSING", 2);
  });

  it("names a missing argument in one line (exit 2)", async () => {
    const cases: [string[], RegExp][] = [
      [["license", "issue", "--tier", "party"], /needs --email/],
      [["license", "revoke", "--reason", "x"], /needs <license id \| key>/],
      [["license", "revoke", "SM-X"], /needs --reason/],
      [["instance", "ban", "--reason", "x"], /needs <instance id>/],
      [["admin", "token", "create", "--name", "n"], /needs --scope/],
      [["webhooks", "add", "--url", "http://127.0.0.1:1/"], /needs --event/],
      [["payments", "map", "--provider", "stripe"], /needs --product/],
      [["dlq", "replay"], /needs --seq N or --all/],
    ];
    const runs = await pool(cases, 4, async ([args, re]) => ({ args, re, r: await smstats(args) }));
    for (const { args, re, r } of runs) {
      const line = expectOneLine(r, "ARGUMENT_MISSING", 2);
      expect(line, args.join(" ")).toMatch(re);
      expect(line).toMatch(/see `smstats \w+ \w+/);
    }
  });
});

describe("smstats license issue --tier", () => {
  it("accepts the key labels (party) and lists the valid tiers for a wrong one", async () => {
    const ok = await smstats([
      "license",
      "issue",
      "--tier",
      "party",
      "--email",
      "cli-tier@example.com",
      "--json",
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    const issued = JSON.parse(ok.stdout) as { key: string; license: { tier: string } };
    expect(issued.license.tier).toBe("party_host");
    expect(issued.key).toMatch(/^SM-PARTY-/);
    const bad = await smstats(["license", "issue", "--tier", "gold", "--email", "cli-tier@example.com"]);
    const line = expectOneLine(bad, "TIER_UNKNOWN", 1);
    expect(line).toMatch(/starter \(starter\), party_host \(party\), venue \(venue\)/);
  });
});

describe("smstats license policy-changed", () => {
  it("makes every cached seat state stale (new global epoch) and audits it", async () => {
    const config = loadConfig();
    const redis = await connectRedis(config.redis.url, "cli-test");
    const db = new pg.Client({ connectionString: config.postgres.url });
    await db.connect();
    try {
      const epochKey = `${config.redis.keyPrefix}lic:epoch`;
      const before = await redis.get(epochKey);
      const audited = async () =>
        (await db.query("SELECT count(*)::int AS n FROM audit_log WHERE action = 'tier_policies.changed'"))
          .rows[0].n as number;
      const auditBefore = await audited();
      const r = await smstats(["license", "policy-changed"]);
      expect(r.code, r.stderr).toBe(0);
      const after = await redis.get(epochKey);
      expect(after).not.toBeNull();
      expect(after).not.toBe(before);
      expect(await audited()).toBe(auditBefore + 1);
    } finally {
      await db.end();
      redis.disconnect();
    }
  });
});

describe("smstats on a stack that was never migrated", () => {
  const db = nsName("smstats_cli_unmigrated");
  let owner: pg.Client;
  beforeAll(async () => {
    owner = new pg.Client({ connectionString: loadConfig().postgres.url });
    await owner.connect();
    await owner.query(`DROP DATABASE IF EXISTS ${db}`);
    await owner.query(`CREATE DATABASE ${db}`);
  });
  afterAll(async () => {
    await owner?.query(`DROP DATABASE IF EXISTS ${db}`);
    await owner?.end();
  });

  it("every licensing command says NOT_MIGRATED and names the migrations, in one line (exit 3)", async () => {
    const cases = [
      ["license", "list"],
      ["license", "show", "SM-PARTY-nothing"],
      ["license", "issue", "--tier", "party", "--email", "a@example.com"],
      ["instance", "list"],
      ["instance", "show", "00000000-0000-0000-0000-000000000000"],
      ["admin", "audit"],
      ["admin", "token", "list"],
      ["webhooks", "list"],
      ["payments", "products"],
    ];
    const runs = await pool(cases, 3, async (args) => ({
      args,
      r: await smstats(args, { SMSTATS_POSTGRES_DATABASE: db }),
    }));
    // The newest migration, read from the folder (every branch that adds one moves it).
    const newest = loadMigrations(postgresMigrationsDir).at(-1) as { version: number; name: string };
    const last = `${String(newest.version).padStart(4, "0")}_${newest.name}`;
    for (const { args, r } of runs) {
      const line = expectOneLine(r, "NOT_MIGRATED", 3);
      expect(line, args.join(" ")).toContain(
        `npm run migrate\` (applies licensing/migrations 0001_instances_licenses…${last}`,
      );
    }
  });
});
