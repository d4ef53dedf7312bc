import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../../lib/config/index.ts";

const run = promisify(execFile);

/** The k6 release the project builds and runs; bump it here only. */
export const K6_VERSION = "v1.8.1";
/** The project's own tools folder (ignored by git), where `go install` puts k6. */
export const TOOLS_BIN = join(repoRoot, ".tools", "bin");
/** Where the project's k6 lives. */
export const K6_PATH = join(TOOLS_BIN, "k6");

async function installedVersion(): Promise<string | undefined> {
  if (!existsSync(K6_PATH)) return undefined;
  const { stdout } = await run(K6_PATH, ["version"]).catch(() => ({ stdout: "" }));
  return /k6 (v\d+\.\d+\.\d+)/.exec(stdout)?.[1];
}

/**
 * Returns the path of the pinned k6, building it with `go install go.k6.io/k6@K6_VERSION` into .tools/bin
 * when it is missing or another version (a few minutes the first time; reused afterwards).
 */
export async function ensureK6(log: (line: string) => void = () => {}): Promise<string> {
  if ((await installedVersion()) === K6_VERSION) return K6_PATH;
  log(`building k6 ${K6_VERSION} with go install into ${TOOLS_BIN} (first time only)`);
  try {
    await run("go", ["install", `go.k6.io/k6@${K6_VERSION}`], {
      cwd: repoRoot,
      env: { ...process.env, GOBIN: TOOLS_BIN, GOFLAGS: "-mod=mod" },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT")
      throw new Error("k6 is built with Go: install Go ≥ 1.23 (https://go.dev/dl/) and retry");
    throw new Error(`go install go.k6.io/k6@${K6_VERSION} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
  const v = await installedVersion();
  if (v !== K6_VERSION) throw new Error(`built k6 reports ${v ?? "nothing"}, expected ${K6_VERSION}`);
  return K6_PATH;
}
