import { readFileSync } from "node:fs";
import { join } from "node:path";
import { resolveDataDir, type ServiceName, stackUp } from "../../stack/index.ts";

/**
 * kill -9 of one server of this checkout's stack, by the pid in its pid file (never by name: other
 * checkouts run their own servers on the same machine); resolves once the process is gone.
 */
export async function kill9(name: ServiceName): Promise<number> {
  const pid = Number(readFileSync(join(resolveDataDir(), "run", `${name}.pid`), "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no pid for ${name}`);
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return pid;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} (pid ${pid}) still running after SIGKILL`);
}

/** Starts whatever of this checkout's stack is not running (a killed server comes back on its data). */
export async function restartStack(): Promise<void> {
  await stackUp();
}
