import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../lib/config/index.ts";

function stackDir() {
  const dir = mkdtempSync(join(tmpdir(), "smstats-config-"));
  writeFileSync(
    join(dir, "stack.json"),
    JSON.stringify({
      writtenAt: new Date().toISOString(),
      nats: { url: "nats://127.0.0.1:27422", monitorUrl: "http://127.0.0.1:27822" },
      clickhouse: { url: "http://127.0.0.1:27123", nativePort: 27900, username: "smstats", password: "pw" },
      postgres: { url: "postgres://smstats:pw@127.0.0.1:27432/smstats" },
      redis: { url: "redis://:pw@127.0.0.1:27379/0" },
    }),
  );
  return dir;
}

describe("config", () => {
  it("defaults every connection to the local stack's file", () => {
    const config = loadConfig({ SMSTATS_DATA_DIR: stackDir() });
    expect(config.nats.servers).toEqual(["nats://127.0.0.1:27422"]);
    expect(config.clickhouse).toMatchObject({
      url: "http://127.0.0.1:27123",
      username: "smstats",
      database: "smstats",
    });
    expect(config.ingest).toMatchObject({ host: "127.0.0.1", port: 8080 });
  });

  it("lets the environment override the stack and replace the PostgreSQL database", () => {
    const config = loadConfig({
      SMSTATS_DATA_DIR: stackDir(),
      SMSTATS_NATS_URL: "nats://10.0.0.1:4222,nats://10.0.0.2:4222",
      SMSTATS_POSTGRES_DATABASE: "other",
    });
    expect(config.nats.servers).toEqual(["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]);
    expect(new URL(config.postgres.url).pathname).toBe("/other");
  });

  it("rejects an unknown SMSTATS_ variable by name", () => {
    expect(() => loadConfig({ SMSTATS_DATA_DIR: stackDir(), SMSTATS_INGEST_PROT: "1" })).toThrow(
      /unknown variable\(s\): SMSTATS_INGEST_PROT/,
    );
  });

  it("rejects a malformed value with the variable's name", () => {
    const run = () => loadConfig({ SMSTATS_DATA_DIR: stackDir(), SMSTATS_INGEST_PORT: "eighty" });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/SMSTATS_INGEST_PORT/);
  });

  it("says how to start the stack when neither the environment nor a stack file gives a connection", () => {
    const empty = mkdtempSync(join(tmpdir(), "smstats-config-empty-"));
    expect(() => loadConfig({ SMSTATS_DATA_DIR: empty })).toThrow(/npm run stack:up/);
  });

  it("ignores variables that are not ours and freezes the result", () => {
    const config = loadConfig({ SMSTATS_DATA_DIR: stackDir(), PATH: "/bin", HOME: "/root" });
    expect(Object.isFrozen(config.ingest)).toBe(true);
  });

  it("keeps webhooks on loopback and mail on the local sink unless told otherwise, and checks the digest's cron", () => {
    const config = loadConfig({ SMSTATS_DATA_DIR: stackDir() });
    expect(config.webhooks.allowRemote).toBe(false);
    expect(config.mail.smtpUrl).toBe("smtp://127.0.0.1:2525");
    expect(config.digest).toEqual({ cron: "0 8 * * 1", to: [] });
    expect(
      loadConfig({ SMSTATS_DATA_DIR: stackDir(), SMSTATS_DIGEST_TO: "a@example.com, b@example.com" }).digest
        .to,
    ).toEqual(["a@example.com", "b@example.com"]);
    expect(() => loadConfig({ SMSTATS_DATA_DIR: stackDir(), SMSTATS_DIGEST_CRON: "61 * * *" })).toThrow(
      /SMSTATS_DIGEST_CRON/,
    );
  });
});
