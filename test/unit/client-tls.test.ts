import { mkdtempSync, writeFileSync } from "node:fs";
import { Agent as HttpsAgent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ingestHttpsOptions } from "../../ingest/tls.ts";
import {
  clickhouseTlsOptions,
  natsTlsOptions,
  pgTlsOptions,
  redisTlsOptions,
  tlsConnectionOptions,
} from "../../lib/clients/index.ts";
import { type ClientTls, ConfigError, loadConfig } from "../../lib/config/index.ts";

function stackDir() {
  const dir = mkdtempSync(join(tmpdir(), "smstats-tls-config-"));
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

// Files are "read" from this map: the mapping is pure, the tests need no PEM on disk.
const files: Record<string, string> = { "/ca.pem": "CA", "/cert.pem": "CERT", "/key.pem": "KEY" };
const read = (path: string) => {
  const text = files[path];
  if (text === undefined) throw new Error(`ENOENT ${path}`);
  return Buffer.from(text);
};
const full: ClientTls = {
  enabled: true,
  caFile: "/ca.pem",
  certFile: "/cert.pem",
  keyFile: "/key.pem",
  servername: "db.internal",
  insecure: false,
};

describe("client TLS settings in the config", () => {
  it("are off by default for every store, with plain URLs", () => {
    const c = loadConfig({ SMSTATS_DATA_DIR: stackDir() });
    for (const tls of [c.postgres.tls, c.redis.tls, c.nats.tls, c.clickhouse.tls]) {
      expect(tls).toEqual({
        enabled: false,
        caFile: undefined,
        certFile: undefined,
        keyFile: undefined,
        servername: undefined,
        insecure: false,
      });
    }
    expect(c.ingest.tls).toBeUndefined();
    expect(c.ingest.metrics).toEqual({ host: "127.0.0.1", port: 9464 });
  });

  it("turn on with the flag, or when the URL asks for TLS", () => {
    const c = loadConfig({
      SMSTATS_DATA_DIR: stackDir(),
      SMSTATS_REDIS_URL: "rediss://:pw@redis.internal:6380/0",
      SMSTATS_CLICKHOUSE_URL: "https://ch.internal:8443",
      SMSTATS_NATS_URL: "tls://nats.internal:4222",
      SMSTATS_POSTGRES_URL: "postgres://u:p@pg.internal:5432/smstats?sslmode=verify-full",
    });
    expect([c.postgres.tls, c.redis.tls, c.nats.tls, c.clickhouse.tls].map((t) => t.enabled)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    const flagged = loadConfig({
      SMSTATS_DATA_DIR: stackDir(),
      SMSTATS_POSTGRES_TLS: "true",
      SMSTATS_POSTGRES_TLS_CA_FILE: "/ca.pem",
      SMSTATS_POSTGRES_TLS_SERVERNAME: "pg.internal",
      SMSTATS_REDIS_TLS_INSECURE: "true",
    });
    expect(flagged.postgres.tls).toMatchObject({
      enabled: true,
      caFile: "/ca.pem",
      servername: "pg.internal",
    });
    expect(flagged.redis.tls).toMatchObject({ enabled: false, insecure: true });
    const prefer = loadConfig({
      SMSTATS_DATA_DIR: stackDir(),
      SMSTATS_POSTGRES_URL: "postgres://u:p@pg:5432/db?sslmode=disable",
    });
    expect(prefer.postgres.tls.enabled).toBe(false);
  });

  it("refuse a client certificate without its key, and an ingest certificate without its key", () => {
    expect(() =>
      loadConfig({ SMSTATS_DATA_DIR: stackDir(), SMSTATS_NATS_TLS_CERT_FILE: "/cert.pem" }),
    ).toThrow(/SMSTATS_NATS_TLS_CERT_FILE and SMSTATS_NATS_TLS_KEY_FILE go together/);
    expect(() =>
      loadConfig({ SMSTATS_DATA_DIR: stackDir(), SMSTATS_INGEST_TLS_KEY_FILE: "/key.pem" }),
    ).toThrow(ConfigError);
    expect(() => loadConfig({ SMSTATS_DATA_DIR: stackDir(), SMSTATS_REDIS_TLS: "yes" })).toThrow(
      /SMSTATS_REDIS_TLS/,
    );
  });
});

describe("client TLS options as each library takes them", () => {
  it("give Node's TLS options: files read, server name, certificate checks on", () => {
    expect(tlsConnectionOptions({ ...full, enabled: false }, read)).toBeUndefined();
    expect(tlsConnectionOptions(undefined, read)).toBeUndefined();
    const o = tlsConnectionOptions(full, read);
    expect(o).toMatchObject({ rejectUnauthorized: true, servername: "db.internal", minVersion: "TLSv1.2" });
    expect(String(o?.ca)).toBe("CA");
    expect(String(o?.cert)).toBe("CERT");
    expect(String(o?.key)).toBe("KEY");
    expect(tlsConnectionOptions({ ...full, insecure: true }, read)?.rejectUnauthorized).toBe(false);
    // Only what is set: no CA file means the system's CAs.
    expect(
      tlsConnectionOptions({ ...full, caFile: undefined, certFile: undefined, keyFile: undefined }, read),
    ).not.toHaveProperty("ca");
  });

  it("PostgreSQL: ssl object, and the URL's own sslmode removed so it cannot replace it", () => {
    const off = pgTlsOptions("postgres://u:p@h:5432/db", undefined, read);
    expect(off).toEqual({ connectionString: "postgres://u:p@h:5432/db" });
    const on = pgTlsOptions("postgres://u:p@h:5432/db?sslmode=verify-full&application_name=x", full, read);
    expect(on.connectionString).toBe("postgres://u:p@h:5432/db?application_name=x");
    expect(on.ssl).toMatchObject({ servername: "db.internal", rejectUnauthorized: true });
  });

  it("Redis and NATS: their tls option", () => {
    expect(redisTlsOptions(full, read)).toMatchObject({ servername: "db.internal" });
    expect(redisTlsOptions(undefined, read)).toBeUndefined();
    expect(natsTlsOptions(full, read)).toEqual({
      rejectUnauthorized: true,
      ca: "CA",
      cert: "CERT",
      key: "KEY",
      servername: "db.internal",
    });
    expect(natsTlsOptions({ ...full, enabled: false }, read)).toBeUndefined();
  });

  it("ClickHouse: an https URL and an https agent carrying the options", () => {
    expect(clickhouseTlsOptions("http://ch:8123", undefined, 10, read)).toEqual({ url: "http://ch:8123" });
    const on = clickhouseTlsOptions("http://ch:8123", { ...full, insecure: true }, 10, read);
    expect(on.url).toBe("https://ch:8123");
    expect(on.http_agent).toBeInstanceOf(HttpsAgent);
    expect(on.http_agent?.options).toMatchObject({ rejectUnauthorized: false, servername: "db.internal" });
    expect(on.http_agent?.maxSockets).toBe(10);
  });

  it("ingest's HTTPS: TLS 1.3 minimum, and an unreadable file named at start", () => {
    expect(ingestHttpsOptions(undefined, read)).toBeUndefined();
    expect(ingestHttpsOptions({ certFile: "/cert.pem", keyFile: "/key.pem" }, read)).toMatchObject({
      minVersion: "TLSv1.3",
    });
    expect(() => ingestHttpsOptions({ certFile: "/missing.pem", keyFile: "/key.pem" }, read)).toThrow(
      /SMSTATS_INGEST_TLS_CERT_FILE \/missing.pem/,
    );
  });
});
