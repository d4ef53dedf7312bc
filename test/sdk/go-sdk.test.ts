import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { createAdminToken } from "../../licensing/index.ts";
import { type PipelineProcess, startPipeline } from "../../loadtest/service.ts";
import { SchemaRegistry } from "../../schemas/registry.ts";
import { TEST_ENV } from "../support/env.ts";

// The Go SDK's own tests (sdk/go), run against ingest + processor started here on the tests'
// namespace. The Go live tests skip only when SMSTATS_SDK_* is absent (a developer running `go test`
// alone); here every one of them must run and pass, under the race detector.

const sdkDir = join(repoRoot, "sdk/go");
const config = loadConfig();
let pipeline: PipelineProcess | undefined;
let pool: pg.Pool | undefined;

/** The go command: on PATH, or where the Go tarball installs it. */
function goBinary(): string {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "go"))) return join(dir, "go");
  }
  if (existsSync("/usr/local/go/bin/go")) return "/usr/local/go/bin/go";
  throw new Error("go not found on PATH nor in /usr/local/go/bin: install Go ≥ 1.26");
}

function run(args: string[], env: Record<string, string>, timeoutMs: number) {
  return new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const child = spawn(goBinary(), args, {
      cwd: sdkDir,
      // The Go tests build cmd/smstats-instance with `go build`: the same go must be on their PATH.
      env: { ...process.env, ...env, PATH: `${dirname(goBinary())}:${process.env.PATH ?? ""}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`go ${args.join(" ")} timed out after ${timeoutMs} ms:\n${out.slice(-8000)}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

let liveEnv: Record<string, string> = {};

beforeAll(async () => {
  pipeline = await startPipeline({
    ...TEST_ENV,
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000,party_host=100000,venue=100000",
  });
  pool = new pg.Pool({ connectionString: config.postgres.url, max: 2 });
  const { token } = await createAdminToken(
    pool,
    { name: "cli:go-sdk-test", source: "cli" },
    { name: `go-sdk-${Date.now()}`, scopes: ["licenses:read", "licenses:write", "instances:write"] },
  );
  liveEnv = {
    SMSTATS_SDK_ENDPOINT: pipeline.ingestUrl,
    SMSTATS_SDK_ADMIN_TOKEN: token,
    SMSTATS_SDK_CLICKHOUSE_URL: config.clickhouse.url,
    SMSTATS_SDK_CLICKHOUSE_USER: config.clickhouse.username,
    SMSTATS_SDK_CLICKHOUSE_PASSWORD: config.clickhouse.password,
    SMSTATS_SDK_CLICKHOUSE_DATABASE: config.clickhouse.database,
    SMSTATS_SDK_SCHEMA_FINGERPRINT: new SchemaRegistry().latest("MetricsBatch").fingerprint,
    CGO_ENABLED: "1",
  };
}, 180_000);

afterAll(async () => {
  await pipeline?.stop();
  await pool?.end();
});

describe("Go SDK (sdk/go)", () => {
  it("embeds the service's Avro schema byte for byte", () => {
    const service = readFileSync(join(repoRoot, "schemas/telemetry/metrics-batch.v2.avsc"));
    const sdk = readFileSync(join(sdkDir, "telemetry/schema/metrics-batch.v2.avsc"));
    expect(sdk.equals(service)).toBe(true);
  });

  it("go vet ./... is clean", async () => {
    const r = await run(["vet", "./..."], liveEnv, 300_000);
    expect(r.code, r.out).toBe(0);
  }, 320_000);

  it("go test -race ./... passes against the live service, with no live test skipped", async () => {
    const r = await run(["test", "-race", "-count=1", "-v", "-timeout", "12m", "./..."], liveEnv, 780_000);
    const skipped = r.out.split("\n").filter((l) => l.includes("--- SKIP"));
    expect(r.code, r.out.slice(-20_000)).toBe(0);
    expect(skipped, "live tests must not skip under npm test").toEqual([]);
    // The acceptance tests ran (a rename or a build tag must not silently drop them).
    for (const name of [
      "TestLiveParty",
      "TestLiveIngestDownTwoMinutes",
      "TestLiveKill9",
      "TestLiveRetryAfter",
      "TestLiveOutboxEviction",
      "TestLiveLease",
      "TestLiveConsentWithdrawn",
      "TestLiveWireCapture",
      "TestLiveTokenRefresh",
    ]) {
      expect(r.out, name).toMatch(new RegExp(`--- PASS: ${name}\\b`));
    }
    // Figures the Go tests print (Retry-After gaps, outage sizes) end up in the vitest log.
    console.log(
      r.out
        .split("\n")
        .filter((l) => l.includes("FIGURE"))
        .join("\n"),
    );
  }, 800_000);
});
