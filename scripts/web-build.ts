import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import react from "@vitejs/plugin-react";
import { build } from "vite";
import { loadConfig, repoRoot } from "../lib/config/index.ts";

// `npm run web:build` (and, with --if-stale, `npm start` and `npm test`): builds the console and portal
// (web/) with Vite into SMSTATS_WEB_DIST and reports the JavaScript each page sends, gzipped. The
// console's budget is 250 KB; a build over it fails. `--out DIR` writes there instead.

const webDir = join(repoRoot, "web");
const BUDGET_BYTES = 250 * 1024;
const PAGES = ["admin", "portal"] as const;

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "dist" || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether the build in distDir is older than web/, this script or the lockfile. */
export function buildIsStale(distDir: string): boolean {
  let built: number;
  try {
    built = statSync(join(distDir, "build-report.json")).mtimeMs;
  } catch {
    return true;
  }
  const inputs = Math.max(
    newestSource(webDir),
    statSync(join(repoRoot, "package-lock.json")).mtimeMs,
    statSync(new URL(import.meta.url)).mtimeMs,
  );
  return inputs > built;
}

/** Gzipped bytes of the scripts a page loads (its module entry and preloads). */
export function pageScriptBytes(distDir: string, page: string): { files: string[]; gzipBytes: number } {
  const html = readFileSync(join(distDir, page, "index.html"), "utf8");
  const files = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="([^"]+\.js)"/g)].map(
    (m) => m[1] as string,
  );
  let gzipBytes = 0;
  for (const f of files) gzipBytes += gzipSync(readFileSync(join(distDir, f.replace(/^\//, "")))).length;
  return { files, gzipBytes };
}

/** Builds both pages and writes build-report.json; throws when the console's JavaScript is over budget. */
export async function buildWeb(
  distDir: string,
): Promise<Record<string, { files: string[]; gzipBytes: number }>> {
  await build({
    root: webDir,
    base: "/",
    configFile: false,
    logLevel: "warn",
    plugins: [react()],
    build: {
      outDir: distDir,
      emptyOutDir: true,
      // No inline scripts or styles anywhere (the pages' CSP forbids them).
      assetsInlineLimit: 0,
      modulePreload: { polyfill: false },
      rollupOptions: {
        input: Object.fromEntries(PAGES.map((p) => [p, join(webDir, p, "index.html")])),
      },
    },
  });
  const report = Object.fromEntries(PAGES.map((p) => [p, pageScriptBytes(distDir, p)]));
  writeFileSync(join(distDir, "build-report.json"), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (process.argv[1] && relative(process.argv[1], new URL(import.meta.url).pathname) === "") {
  // --out DIR builds without the service's configuration (the image's build stage has no stack).
  const out = process.argv.indexOf("--out");
  const distDir = out > 0 ? join(process.cwd(), process.argv[out + 1] ?? "") : loadConfig().web.distDir;
  if (process.argv.includes("--if-stale") && !buildIsStale(distDir)) process.exit(0);
  const started = Date.now();
  const report = await buildWeb(distDir);
  for (const [page, r] of Object.entries(report)) {
    console.error(
      `web: /${page}/ sends ${(r.gzipBytes / 1024).toFixed(1)} KB of JavaScript gzipped (${r.files.length} files)`,
    );
  }
  console.error(`web: built into ${distDir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if ((report.admin?.gzipBytes ?? 0) > BUDGET_BYTES) {
    console.error(`web: the console's JavaScript is over its ${BUDGET_BYTES / 1024} KB budget`);
    process.exit(1);
  }
}
