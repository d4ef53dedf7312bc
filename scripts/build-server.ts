import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { build } from "esbuild";
import { repoRoot } from "../lib/config/index.ts";

// `npm run server:build` (and `npm start`, every time: it takes about a second): bundles ingest and the
// processor into plain JavaScript under dist/server/, which they then run without a TypeScript loader.
// tsx compiles every module at load time in a loader thread of its own; that thread and its caches cost
// ~65 MB resident in each process, a third of ingest's budget for an export of a million rows (issue 15).
// npm packages stay external (loaded from node_modules as usual); modules find their data files
// (schemas, stored queries, migrations) from the repository root, not from their own location.

/** The service entry points and the bundle each becomes. */
export const SERVER_BUNDLES = {
  ingest: { entry: "ingest/server.ts", out: "dist/server/ingest.mjs" },
  processor: { entry: "processors/main.ts", out: "dist/server/processor.mjs" },
} as const;

export type ServerName = keyof typeof SERVER_BUNDLES;

/** Absolute path of a server's bundle under `outDir` (default: the repository's dist/server/). */
export function bundlePath(name: ServerName, outDir?: string): string {
  const out = SERVER_BUNDLES[name].out;
  return outDir ? join(outDir, out.split("/").at(-1) as string) : join(repoRoot, out);
}

/** Bundles the given servers (all by default) into `outDir`; resolves with the files written. */
export async function buildServers(
  names: readonly ServerName[] = Object.keys(SERVER_BUNDLES) as ServerName[],
  outDir?: string,
): Promise<string[]> {
  const files: string[] = [];
  for (const name of names) {
    const outfile = bundlePath(name, outDir);
    const result = await build({
      entryPoints: [join(repoRoot, SERVER_BUNDLES[name].entry)],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      // Readable stack traces without source maps (node would load them into memory at start).
      minify: false,
      keepNames: true,
      legalComments: "none",
      logLevel: "warning",
      write: false,
    });
    // Written aside and renamed into place: processes started meanwhile (test files start pipelines in
    // parallel, each rebuilding) load either the old bundle or the new one, never half of one.
    const code = result.outputFiles.find((f) => f.path === outfile) ?? result.outputFiles[0];
    if (!code) throw new Error(`esbuild wrote nothing for ${name}`);
    mkdirSync(dirname(outfile), { recursive: true });
    const tmp = `${outfile}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, code.contents);
    renameSync(tmp, outfile);
    files.push(outfile);
  }
  return files;
}

if (process.argv[1] && relative(process.argv[1], new URL(import.meta.url).pathname) === "") {
  const out = process.argv.indexOf("--out");
  const outDir = out > 0 ? join(process.cwd(), process.argv[out + 1] ?? "") : undefined;
  const files = await buildServers(undefined, outDir);
  for (const f of files) console.info(`built ${f}`);
}
