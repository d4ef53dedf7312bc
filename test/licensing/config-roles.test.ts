import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, requirePostgresRole } from "../../lib/config/index.ts";

function dataDir(withSecrets: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "smstats-roles-"));
  writeFileSync(
    join(dir, "stack.json"),
    JSON.stringify({
      writtenAt: new Date().toISOString(),
      nats: { url: "nats://127.0.0.1:1", monitorUrl: "http://127.0.0.1:2" },
      clickhouse: { url: "http://127.0.0.1:3", nativePort: 4, username: "u", password: "p" },
      postgres: { url: "postgres://smstats:owner@127.0.0.1:27432/smstats" },
      redis: { url: "redis://:r@127.0.0.1:5/0" },
    }),
  );
  if (withSecrets) {
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets", "postgres_write.txt"), "abc123\n");
    writeFileSync(join(dir, "secrets", "postgres_read.txt"), "def456\n");
  }
  return dir;
}

describe("database role URLs", () => {
  it("derive from the owner URL and the generated passwords, on the configured database", () => {
    const config = loadConfig({ SMSTATS_DATA_DIR: dataDir(true), SMSTATS_POSTGRES_DATABASE: "other" });
    expect(config.postgres.writeUrl).toBe("postgres://smstats_write:abc123@127.0.0.1:27432/other");
    expect(config.postgres.readUrl).toBe("postgres://smstats_read:def456@127.0.0.1:27432/other");
  });

  it("say to run the migrations when no password was generated yet", () => {
    const config = loadConfig({ SMSTATS_DATA_DIR: dataDir(false) });
    expect(config.postgres.writeUrl).toBeUndefined();
    expect(() => requirePostgresRole(config, "write")).toThrow(ConfigError);
    expect(() => requirePostgresRole(config, "write")).toThrow(/npm run migrate/);
  });

  it("take explicit URLs from the environment", () => {
    const config = loadConfig({
      SMSTATS_DATA_DIR: dataDir(false),
      SMSTATS_POSTGRES_WRITE_URL: "postgres://w:pw@db:5432/smstats",
    });
    expect(requirePostgresRole(config, "write")).toBe("postgres://w:pw@db:5432/smstats");
  });
});
