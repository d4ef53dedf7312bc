import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config/index.ts";

function stackDir() {
  const dir = mkdtempSync(join(tmpdir(), "smstats-proxy-"));
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

describe("SMSTATS_INGEST_TRUST_PROXY", () => {
  it("trusts no proxy by default, so X-Forwarded-For cannot pick a client's country", () => {
    expect(loadConfig({ SMSTATS_DATA_DIR: stackDir() }).ingest.trustProxy).toEqual([]);
  });

  it("takes addresses and CIDRs separated by commas", () => {
    const config = loadConfig({
      SMSTATS_DATA_DIR: stackDir(),
      SMSTATS_INGEST_TRUST_PROXY: "127.0.0.1,::1,10.0.0.0/8",
    });
    expect(config.ingest.trustProxy).toEqual(["127.0.0.1", "::1", "10.0.0.0/8"]);
  });

  it("rejects anything else, naming the variable", () => {
    expect(() => loadConfig({ SMSTATS_DATA_DIR: stackDir(), SMSTATS_INGEST_TRUST_PROXY: "true" })).toThrow(
      /SMSTATS_INGEST_TRUST_PROXY/,
    );
  });
});
