import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { buildMetricsApp } from "../../ingest/metrics-listener.ts";
import type { Config } from "../../lib/config/index.ts";
import { testIngest } from "../support/app.ts";
import { makeTestCert, type TestCert } from "../support/tls-cert.ts";

// Ingest serving HTTPS itself (TLS 1.3 at least) with a certificate made here, and /metrics only on its
// own loopback listener, never on the API listener.
let cert: TestCert;
let app: FastifyInstance;
let metricsApp: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
let port: number;
let metricsBase: string;

beforeAll(async () => {
  cert = makeTestCert();
  ({ app, deps, config } = await testIngest({
    SMSTATS_INGEST_TLS_CERT_FILE: cert.certFile,
    SMSTATS_INGEST_TLS_KEY_FILE: cert.keyFile,
    SMSTATS_INGEST_METRICS_PORT: "0",
    SMSTATS_INGEST_MAX_CONNECTIONS_PER_ADDRESS: "2",
  }));
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as AddressInfo).port;
  metricsApp = await buildMetricsApp(config, deps);
  metricsBase = await metricsApp.listen({ ...config.ingest.metrics });
});
afterAll(async () => {
  await app?.close();
  await metricsApp?.close();
  await deps?.close();
  cert?.remove();
});

interface Got {
  status: number;
  body: string;
  protocol?: string | null;
}

function get(path: string, tls: { maxVersion?: "TLSv1.2" | "TLSv1.3" } | false, to = port): Promise<Got> {
  return new Promise((resolve, reject) => {
    const done = (res: import("node:http").IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          protocol: tls ? (res.socket as TLSSocket).getProtocol?.() : undefined,
        }),
      );
    };
    const req = tls
      ? httpsRequest({ host: "127.0.0.1", port: to, path, ca: cert.cert, agent: false, ...tls }, done)
      : httpRequest({ host: "127.0.0.1", port: to, path, agent: false }, done);
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

describe("ingest over HTTPS", () => {
  it("answers over TLS 1.3 with the configured certificate", async () => {
    const res = await get("/health/live", {});
    expect(res.status).toBe(200);
    expect(res.protocol).toBe("TLSv1.3");
  });

  it("answers API errors in the error shape over TLS", async () => {
    const res = await new Promise<Got>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          path: "/v1/stats/batch",
          method: "POST",
          ca: cert.cert,
          agent: false,
          headers: { "content-type": "application/json" },
        },
        (r) => {
          let body = "";
          r.on("data", (d) => {
            body += d;
          });
          r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).error.code).toEqual(expect.any(String));
  });

  it("refuses a client that offers at most TLS 1.2", async () => {
    await expect(get("/health/live", { maxVersion: "TLSv1.2" })).rejects.toThrow(
      /protocol version|handshake|alert/i,
    );
  });

  it("does not answer plain HTTP on the HTTPS port", async () => {
    const outcome = await get("/health/live", false).then(
      (r) => r.status,
      () => "refused",
    );
    expect(outcome).not.toBe(200);
  });
});

describe("connection limits over HTTPS", () => {
  it("answers a connection past the per-address cap with a 503 the client can read (encrypted)", async () => {
    const open = (): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        // tls.connect hands localAddress on to net.connect (its type does not list it).
        const options = { host: "127.0.0.1", port, ca: cert.cert, localAddress: "127.0.0.7" };
        const s = tlsConnect(options as ConnectionOptions, () => resolve(s));
        s.once("error", reject);
      });
    const held = [await open(), await open()];
    try {
      const third = await open();
      const text = await new Promise<string>((resolve) => {
        let got = "";
        third.setEncoding("utf8");
        third.on("data", (d) => {
          got += d;
        });
        third.on("close", () => resolve(got));
        third.on("error", () => resolve(got));
      });
      expect(text).toMatch(/^HTTP\/1\.1 503 /);
      expect(text).toMatch(/Retry-After: \d+/);
      expect(text).toContain("TOO_MANY_CONNECTIONS");
    } finally {
      for (const s of held) s.destroy();
    }
  });
});

describe("/metrics", () => {
  it("is not served on the API listener", async () => {
    const res = await get("/metrics", {});
    expect(res.status).toBe(404);
    expect(res.body).not.toContain("smstats_");
  });

  it("is served on its own listener, bound to loopback by default", async () => {
    expect(config.ingest.metrics.host).toBe("127.0.0.1");
    expect(new URL(metricsBase).hostname).toBe("127.0.0.1");
    await get("/health/live", {});
    const res = await get("/metrics", false, Number(new URL(metricsBase).port));
    expect(res.status).toBe(200);
    // The API listener's answers are counted in the registry the metrics listener serves.
    expect(res.body).toMatch(/smstats_http_requests_total\{[^}]*route="\/health\/live"[^}]*\} [1-9]/);
  });

  it("answers nothing but /metrics on the metrics listener", async () => {
    const res = await get("/v1/stats/batch", false, Number(new URL(metricsBase).port));
    expect(res.status).toBe(404);
  });
});
