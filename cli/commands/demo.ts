import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { demoBreakdown, fillStack, runAnalystQueries } from "../../loadtest/demo.ts";
import { type PipelineProcess, startPipeline } from "../../loadtest/service.ts";
import { UsageError } from "../usage.ts";

export const usage = `  smstats demo [--instances 200] [--days 7] [--seed 1] [--concurrency 16] [--url http://127.0.0.1:8080]`;

/**
 * `smstats demo`: fills the configured databases with days of history of a simulated fleet through the real
 * pipeline (HTTP ingest → JetStream → processors → ClickHouse), then runs the example analyst queries.
 */
export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      instances: { type: "string", default: "200" },
      days: { type: "string", default: "7" },
      seed: { type: "string", default: "1" },
      concurrency: { type: "string", default: "16" },
      url: { type: "string" },
    },
    strict: true,
  });
  const instances = Number(values.instances);
  const days = Number(values.days);
  const seed = Number(values.seed);
  const concurrency = Number(values.concurrency);
  if (positionals.length > 0)
    throw new UsageError(`\`smstats demo\` takes no operand (got ${positionals[0]})`);
  if (!Number.isInteger(instances) || instances < 1 || instances > 5000)
    throw new UsageError(`--instances 1..5000\n${usage}`);
  if (!(days > 0 && days <= 365)) throw new UsageError(`--days in (0, 365]\n${usage}`);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    throw new UsageError(`--concurrency 1..256\n${usage}`);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer\n${usage}`);
  const config = loadConfig();

  // Without --url: an ingest + processor of our own on free ports, on the same databases, that trust the
  // simulated addresses in X-Forwarded-For (so countries are filled) and let a week of history through in
  // minutes (the per-instance rate limits are for live traffic, not for replaying a week).
  let pipeline: PipelineProcess | undefined;
  let ingestUrl = values.url;
  if (!ingestUrl) {
    console.error("starting an ingest + processor for the demo …");
    pipeline = await startPipeline({
      SMSTATS_INGEST_TRUST_PROXY: "127.0.0.1,::1",
      SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000,party_host=100000,venue=100000",
    });
    ingestUrl = pipeline.ingestUrl;
  }
  // Redrawn in place on a terminal; a line every 5 s when the output is a file or a pipe (CI logs).
  const bars = new cliProgress.MultiBar({
    format: " {phase} |{bar}| {value}/{total} {percentage}% eta {eta_formatted}",
    barCompleteChar: "\u2588",
    barIncompleteChar: "\u2591",
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 5_000,
  });
  const phases = new Map<string, cliProgress.SingleBar>();
  const ch = serverExecutor(config.clickhouse);
  try {
    const report = await fillStack(config, {
      instances,
      days,
      seed,
      ingestUrl,
      concurrency,
      onProgress(phase, done, total) {
        let bar = phases.get(phase);
        if (!bar) {
          bar = bars.create(total, 0, { phase: phase.padEnd(8) });
          phases.set(phase, bar);
        }
        bar.setTotal(total);
        bar.update(done);
      },
    });
    bars.stop();
    console.log(
      `\n${report.instances} instances, ${report.batches} batches over ${days} days: ${report.accepted} accepted, ` +
        `${report.duplicates} duplicates (sent before, within JetStream's window), failed ${JSON.stringify(report.failed)}; ` +
        `sent in ${report.sendSeconds.toFixed(1)} s (${(report.batches / report.sendSeconds).toFixed(0)} batches/s), ` +
        `all visible ${report.visibleSeconds.toFixed(1)} s later (${report.visible} batches in ClickHouse)`,
    );
    const breakdown = await demoBreakdown(ch, report.instanceIds);
    console.log(
      `instances by tier/country: ${breakdown.map((r) => `${r.tier}/${r.country || "??"}=${r.n}`).join(" ")}`,
    );
    console.log("\nexample analyst queries (clickhouse/queries):");
    for (const q of await runAnalystQueries(ch, report.sampleInstanceId)) {
      console.log(
        `  ${q.name.padEnd(36)} ${String(q.rows).padStart(5)} rows   first: ${JSON.stringify(q.first ?? null)}`,
      );
    }
    if (Object.keys(report.failed).length > 0 || report.visible < report.accepted) process.exitCode = 1;
  } finally {
    bars.stop();
    await ch.close();
    await pipeline?.stop();
  }
}
