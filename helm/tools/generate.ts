import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CHART_DIR, chartFiles } from "./chart-files.ts";

// `npm run helm:gen` writes the chart's copies of grafana/provisioning and the PrometheusRule groups;
// `--check` fails when they differ from what grafana/ would generate (the chart tests run the same check).
const check = process.argv.includes("--check");
const want = chartFiles();
const dashboards = join(CHART_DIR, "files", "grafana", "dashboards");
const stale = readdirSync(dashboards, { withFileTypes: true })
  .filter((e) => e.isFile() && !want.has(`files/grafana/dashboards/${e.name}`))
  .map((e) => `files/grafana/dashboards/${e.name}`);
const differing = [...want].filter(([path, text]) => {
  try {
    return readFileSync(join(CHART_DIR, path), "utf8") !== text;
  } catch {
    return true;
  }
});
if (check) {
  const bad = [...differing.map(([p]) => p), ...stale];
  if (bad.length > 0) {
    console.error(`helm/smstats is out of date (run npm run helm:gen): ${bad.join(", ")}`);
    process.exit(1);
  }
  console.log("helm/smstats files are up to date");
} else {
  for (const path of stale) rmSync(join(CHART_DIR, path));
  for (const [path, text] of differing) {
    mkdirSync(dirname(join(CHART_DIR, path)), { recursive: true });
    writeFileSync(join(CHART_DIR, path), text);
  }
  console.log(`wrote ${differing.length} file(s), removed ${stale.length}`);
}
