import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../lib/config/index.ts";
import { failedThresholds, runScenario, SCENARIOS, type ScenarioName } from "./runner.ts";
import { namespaceEnv, type PipelineProcess, removeNamespaceStreams, startPipeline } from "./service.ts";

// `npm run loadtest -- <scenario> [options]`: one k6 scenario against the local stack. Without --url it
// starts its own ingest + processor on the "loadtest" namespace (own databases and stream) and stops them.
const usage = `usage: npm run loadtest -- <${Object.keys(SCENARIOS).join("|")}> [options]
  --url URL           ingest to load (loopback only); default: start ingest + processor on namespace "loadtest"
  --rate N            requests/s for load, stress (top), spike (peak), soak
  --duration S        seconds (per stage for stress)
  --instances N       simulated instances (fleet)
  --pace S            seconds between an instance's batches (fleet)
  --threshold M=EXPR  an extra threshold, e.g. 'http_req_duration=p(95)<1' (repeatable)
  --out FILE          JSON summary (default .data/loadtest/<scenario>-<time>.json)`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    rate: { type: "string" },
    duration: { type: "string" },
    instances: { type: "string" },
    pace: { type: "string" },
    threshold: { type: "string", multiple: true },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
const scenario = positionals[0] as ScenarioName | undefined;
if (values.help || !scenario || !(scenario in SCENARIOS)) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const extraThresholds: Record<string, string[]> = {};
for (const t of values.threshold ?? []) {
  const at = t.indexOf("=");
  if (at < 1) throw new Error(`--threshold wants METRIC=EXPR, got ${t}`);
  const metric = t.slice(0, at);
  extraThresholds[metric] = [...(extraThresholds[metric] ?? []), t.slice(at + 1)];
}
const outDir = join(repoRoot, ".data", "loadtest");
mkdirSync(outDir, { recursive: true });
const summaryFile =
  values.out ?? join(outDir, `${scenario}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);

let pipeline: PipelineProcess | undefined;
let baseUrl = values.url;
const nsEnv = namespaceEnv("loadtest");
if (!baseUrl) {
  console.error("starting ingest + processor on namespace loadtest …");
  pipeline = await startPipeline({
    ...nsEnv,
    // Synthetic scenarios send from a few instances far above a real one's rate; the fleet keeps real limits.
    ...(scenario === "fleet" ? {} : { SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000" }),
    SMSTATS_INGEST_TRUST_PROXY: "127.0.0.1,::1",
    // k6 opens all its connections from one loopback address; the per-address cap is for real clients.
    SMSTATS_INGEST_MAX_CONNECTIONS_PER_ADDRESS: "100000",
  });
  baseUrl = pipeline.ingestUrl;
}
let exitCode = 1;
try {
  const result = await runScenario({
    scenario,
    baseUrl,
    summaryFile,
    rate: num(values.rate),
    durationS: num(values.duration),
    instances: num(values.instances),
    paceS: num(values.pace),
    extraThresholds,
  });
  exitCode = result.exitCode;
  const failed = failedThresholds(result.summary);
  console.error(
    `\n${scenario}: k6 exit ${exitCode}${failed.length ? `; failed thresholds: ${failed.join(", ")}` : ""}; summary ${summaryFile}`,
  );
} finally {
  if (pipeline) {
    await pipeline.stop();
    await removeNamespaceStreams(nsEnv).catch((err) =>
      console.error(`could not delete the loadtest streams: ${err}`),
    );
  }
}
process.exit(exitCode);
