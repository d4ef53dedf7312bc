#!/usr/bin/env node
// Entry of `npm start`, `npm test` and `npm run stack:*` on a fresh clone: installs the npm
// dependencies when they are missing or stale (this file itself needs none), then hands over to the
// TypeScript command. Plain JavaScript on purpose: it runs before anything is installed.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function ensureDependencies() {
  const marker = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  const stale = !existsSync(marker) || statSync(lock).mtimeMs > statSync(marker).mtimeMs;
  if (!stale) return;
  // `npm ci`: exactly the locked tree, and the lockfile is never rewritten. The lock lists every
  // platform's optional packages (test/unit/lockfile.test.ts checks it), so `npm ci` accepts it here as
  // on any other machine.
  console.error("bootstrap: installing npm dependencies (npm ci)");
  const r = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error("bootstrap: npm ci failed");
    process.exit(r.status ?? 1);
  }
}

/** Runs a TypeScript file in one Node process (tsx as a loader) and resolves with its exit code. */
function runTs(file, args = []) {
  return run(process.execPath, ["--import", "tsx", join(root, file), ...args]);
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: "inherit" });
    // Ctrl-C reaches the whole process group; a SIGTERM sent to this process alone is passed on.
    const forward = (sig) => () => child.kill(sig);
    const onInt = forward("SIGINT");
    const onTerm = forward("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

const [command, ...rest] = process.argv.slice(2);
ensureDependencies();
let code;
switch (command) {
  case "start":
    code = await runTs("scripts/start.ts", rest);
    break;
  case "test":
    code = await runTs("stack/cli.ts", ["up"]);
    // The browser tests (test/web/) load the built console and portal.
    if (code === 0) code = await runTs("scripts/web-build.ts", ["--if-stale"]);
    if (code === 0)
      code = await run(process.execPath, [
        join(root, "node_modules", "vitest", "vitest.mjs"),
        "run",
        ...rest,
      ]);
    break;
  case "test-cluster":
    // The cluster suites start the cluster stack themselves (test/cluster/setup.ts).
    code = await run(process.execPath, [
      join(root, "node_modules", "vitest", "vitest.mjs"),
      "run",
      "--config",
      "vitest.cluster.config.ts",
      ...rest,
    ]);
    break;
  case "stack":
    code = await runTs("stack/cli.ts", rest);
    break;
  default:
    console.error(
      "usage: bootstrap.mjs start | test [vitest args] | test-cluster [vitest args] | stack up|down|status",
    );
    code = 2;
}
process.exit(code);
