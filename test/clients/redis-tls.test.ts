import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis } from "../../lib/clients/index.ts";
import { type ClientTls, loadConfig } from "../../lib/config/index.ts";
import { freePort } from "../../lib/net/index.ts";
import { locateServiceBinary } from "../../stack/install.ts";
import { redis as redisService } from "../../stack/services/redis.ts";
import { makeTestCert, type TestCert } from "../support/tls-cert.ts";

// The service's Redis client over real TLS: a redis-server (the stack's own binary, Debian's build has
// TLS) started here on its own free port with a certificate made here, TLS only, no data on disk.
let cert: TestCert;
let server: ChildProcess;
let port: number;

beforeAll(async () => {
  cert = makeTestCert();
  port = await freePort();
  const binary = locateServiceBinary(redisService, "redis-server");
  if (!binary) throw new Error("redis-server not found: run npm run stack:up, which installs it");
  server = spawn(
    binary,
    [
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--tls-cert-file",
      cert.certFile,
      "--tls-key-file",
      cert.keyFile,
      "--tls-auth-clients",
      "no",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      cert.dir,
    ],
    { stdio: "ignore" },
  );
  // Ready once it accepts a TLS connection.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await connectRedis(`rediss://127.0.0.1:${port}/0`, "probe", tlsWith({ insecure: true }))
      .then(async (r) => {
        r.disconnect();
        return true;
      })
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error("redis-server with TLS did not start within 10 s");
    await new Promise((r) => setTimeout(r, 100));
  }
});
afterAll(() => {
  if (server?.pid) server.kill("SIGKILL");
  cert?.remove();
});

function tlsWith(extra: Partial<ClientTls>): ClientTls {
  return {
    enabled: true,
    caFile: undefined,
    certFile: undefined,
    keyFile: undefined,
    servername: undefined,
    insecure: false,
    ...extra,
  };
}

describe("the Redis client over TLS", () => {
  it("connects with the configured CA file and runs commands", async () => {
    // Through the config, as the service builds it: SMSTATS_REDIS_URL rediss:// + the CA file.
    const config = loadConfig({
      ...process.env,
      SMSTATS_REDIS_URL: `rediss://127.0.0.1:${port}/0`,
      SMSTATS_REDIS_TLS_CA_FILE: cert.certFile,
    });
    expect(config.redis.tls.enabled).toBe(true);
    const r = await connectRedis(config.redis.url, "tls-test", config.redis.tls);
    try {
      await r.set("tls-test", "over tls");
      expect(await r.get("tls-test")).toBe("over tls");
      const stream = (r as unknown as { stream: { getProtocol?: () => string } }).stream;
      expect(stream.getProtocol?.()).toMatch(/^TLSv1\.[23]$/);
    } finally {
      r.disconnect();
    }
  });

  // The same server the first test reaches with its CA: only the TLS setting differs.
  it("refuses a server whose certificate no configured CA signed", async () => {
    // ioredis reports the refused handshake as "Connection is closed".
    await expect(connectRedis(`rediss://127.0.0.1:${port}/0`, "tls-test", tlsWith({}))).rejects.toThrow();
  });

  it("checks the server name against the certificate", async () => {
    await expect(
      connectRedis(
        `rediss://127.0.0.1:${port}/0`,
        "tls-test",
        tlsWith({ caFile: cert.certFile, servername: "not-this-host.example" }),
      ),
    ).rejects.toThrow();
  });

  it("cannot talk plain TCP to a TLS-only port", async () => {
    await expect(connectRedis(`redis://127.0.0.1:${port}/0`, "tls-test")).rejects.toThrow();
  });
});
