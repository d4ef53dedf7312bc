import { connect, createServer, type Server, type Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { loadConfig, requirePostgresRole } from "../../lib/config/index.ts";
import { testIngest } from "../support/app.ts";

// /health/db and /health/redis during an outage: ingest reaches PostgreSQL and Redis through TCP proxies
// this test starts on its own ports; closing a proxy (and cutting its connections) is the outage, seen by
// ingest exactly as a store that went away. The stack's own servers are never touched.

/** A TCP proxy to `target` that can be cut (connections dropped, new ones refused) and restored. */
class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}
  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server?.listen(this.port, "127.0.0.1", r));
    this.port = (this.server.address() as { port: number }).port;
  }
  async cut(): Promise<void> {
    const closed = new Promise((r) => this.server?.close(r));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

const base = loadConfig();
const via = (url: string, proxy: TcpProxy) => {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(proxy.port);
  return u.toString();
};
const target = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
};
const writeUrl = requirePostgresRole(base, "write");
const pgProxy = new TcpProxy(target(writeUrl));
const redisProxy = new TcpProxy(target(base.redis.url));
let app: FastifyInstance;
let deps: IngestDeps;

beforeAll(async () => {
  await pgProxy.open();
  await redisProxy.open();
  ({ app, deps } = await testIngest({
    SMSTATS_POSTGRES_WRITE_URL: via(writeUrl, pgProxy),
    SMSTATS_REDIS_URL: via(base.redis.url, redisProxy),
  }));
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
  await pgProxy.cut().catch(() => {});
  await redisProxy.cut().catch(() => {});
});

async function health(path: string) {
  const res = await app.inject(path);
  return { status: res.statusCode, retryAfter: res.headers["retry-after"], body: res.json() };
}

describe("store health during an outage", () => {
  it.each([
    ["/health/db", "postgres", pgProxy],
    ["/health/redis", "redis", redisProxy],
  ] as const)(
    "%s is 503 with Retry-After while its store is away, and 200 again after",
    async (path, check, proxy) => {
      expect((await health(path)).status).toBe(200);
      await proxy.cut();
      const down = await health(path);
      expect(down.status).toBe(503);
      expect(down.retryAfter).toBeDefined();
      expect(down.body[check].ok).toBe(false);
      const ready = await health("/health/ready");
      expect(ready.status).toBe(503);
      expect(ready.body.checks[check].ok).toBe(false);
      // The other store still answers on its own route.
      const other = path === "/health/db" ? "/health/redis" : "/health/db";
      expect((await health(other)).status).toBe(200);
      await proxy.open();
      await expect
        .poll(async () => (await health(path)).status, { timeout: 15_000, interval: 200 })
        .toBe(200);
    },
  );
});
