import { chmodSync, writeFileSync } from "node:fs";
import { readStackFile, type StackFile } from "../lib/stack-file.ts";
import type { StackContext } from "./context.ts";
import { CLICKHOUSE_ANALYST_USER, CLICKHOUSE_GRAFANA_USER } from "./services/clickhouse.ts";
import { CLICKHOUSE_USER, postgresUrl } from "./services/index.ts";

/** The connection details of a running stack, in the shape lib/stack-file.ts defines. */
export function buildStackFile(ctx: StackContext, writtenAt: Date): StackFile {
  return {
    writtenAt: writtenAt.toISOString(),
    nats: {
      url: `nats://127.0.0.1:${ctx.ports.natsClient}`,
      monitorUrl: `http://127.0.0.1:${ctx.ports.natsMonitor}`,
    },
    clickhouse: {
      url: `http://127.0.0.1:${ctx.ports.clickhouseHttp}`,
      nativePort: ctx.ports.clickhouseNative,
      username: CLICKHOUSE_USER,
      password: ctx.secrets.clickhouse,
      analyst: { username: CLICKHOUSE_ANALYST_USER, password: ctx.secrets.clickhouseAnalyst },
      grafana: { username: CLICKHOUSE_GRAFANA_USER, password: ctx.secrets.clickhouseGrafana },
    },
    postgres: { url: postgresUrl(ctx) },
    redis: { url: `redis://:${ctx.secrets.redis}@127.0.0.1:${ctx.ports.redis}/0` },
  };
}

function sameConnections(a: StackFile, b: StackFile): boolean {
  return JSON.stringify({ ...a, writtenAt: "" }) === JSON.stringify({ ...b, writtenAt: "" });
}

/**
 * Writes `<data>/stack.json` (mode 0600: it holds the passwords) unless it already says the same,
 * so an `up` that finds everything running changes nothing. Returns the file now on disk.
 */
export function writeStackFile(ctx: StackContext, file: StackFile): { file: StackFile; written: boolean } {
  const current = readStackFile(ctx.paths.dataDir);
  if (current !== undefined && sameConnections(current, file)) return { file: current, written: false };
  writeFileSync(ctx.paths.stackFile, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  // The mode option applies only to new files; an older stack.json may have been world-readable.
  chmodSync(ctx.paths.stackFile, 0o600);
  return { file, written: true };
}
