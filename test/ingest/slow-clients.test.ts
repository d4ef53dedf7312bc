import { connect, type Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../ingest/app.ts";
import { createIngestDeps, type IngestDeps } from "../../ingest/deps.ts";
import { type Config, loadConfig } from "../../lib/config/index.ts";
import type { Logger } from "../../lib/log/index.ts";
import { scrapeMetrics, seedBody, uniqueId } from "../support/app.ts";
import {
  fetchBatch,
  registerInstance,
  signedRequest,
  type TestInstance,
} from "../support/instance-client.ts";

// Short timeouts so a 40 s run sees many cuts; the mechanism is the server's own, as in production.
const HEADERS_MS = 2000;
const REQUEST_MS = 5000;
const CHECK_MS = 500;
const PER_ADDRESS = 25;
// How late past its timeout a cut may come: the check interval plus scheduling on a shared machine.
const SLACK_MS = CHECK_MS + 2000;

let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
let base: string;
let port: number;
let instance: TestInstance;
const lines: { level: string; msg: string; code?: string }[] = [];

beforeAll(async () => {
  config = loadConfig({
    ...process.env,
    SMSTATS_INGEST_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
    SMSTATS_INGEST_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
    SMSTATS_INGEST_IDLE_TIMEOUT_MS: "3000",
    SMSTATS_INGEST_KEEP_ALIVE_TIMEOUT_MS: "2000",
    SMSTATS_INGEST_TIMEOUT_CHECK_MS: String(CHECK_MS),
    SMSTATS_INGEST_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS),
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000",
    // This suite is about timeouts, not shedding: a loaded CI machine must not shed the honest clients.
    SMSTATS_INGEST_MAX_EVENT_LOOP_DELAY_MS: "10000",
  });
  const log = pino(
    { level: "debug", formatters: { level: (label) => ({ level: label }) } },
    { write: (s: string) => void lines.push(JSON.parse(s)) },
  ) as unknown as Logger;
  deps = await createIngestDeps(config, log);
  app = await buildApp(config, deps);
  base = await app.listen({ host: "127.0.0.1", port: 0 });
  port = Number(new URL(base).port);
  instance = await registerInstance(base);
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

const errorLines = () => lines.filter((l) => l.level === "error" || l.level === "fatal");

async function metric(name: string, labels: string): Promise<number> {
  const text = (await scrapeMetrics(config, deps)).body;
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(" ").pop()) : 0;
}

function open(localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, localAddress }, () => resolve(s));
    s.once("error", reject);
  });
}

type Kind = "headers" | "headers-auth" | "body" | "body-auth" | "silent";

/** The first bytes a slow client sends; it then trickles one more byte every 300 ms. */
async function opening(kind: Kind): Promise<string> {
  if (kind === "silent") return "";
  if (kind === "headers") return "POST /v1/instances/register HTTP/1.1\r\nHost: a\r\n";
  if (kind === "headers-auth") {
    return `POST /v1/stats/batch HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${instance.token}\r\n`;
  }
  if (kind === "body") {
    return 'POST /v1/instances/register HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"hw';
  }
  const { headers, payload } = await signedBatch("slow");
  return `POST /v1/stats/batch HTTP/1.1\r\nHost: a\r\n${headers}Content-Length: 4000\r\n\r\n${payload.subarray(0, 10)}`;
}

/** A signed batch of the test instance: its headers as raw HTTP lines, and its body. */
async function signedBatch(idPrefix: string) {
  const signed = await signedRequest(instance, {
    ...seedBody(instance.instanceId),
    batch_id: uniqueId(idPrefix),
  });
  const headers = Object.entries(signed.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return { headers, payload: signed.payload };
}

/** One slow client for `forMs`: reconnects each time it is cut; returns how long each connection lived. */
async function slowClient(kind: Kind, localAddress: string, forMs: number) {
  const until = Date.now() + forMs;
  const lived: { ms: number; answer: string }[] = [];
  const first = await opening(kind);
  const limit = kind.startsWith("body") ? REQUEST_MS : HEADERS_MS;
  while (Date.now() < until) {
    const started = Date.now();
    const socket = await open(localAddress);
    let answer = "";
    socket.on("data", (d) => {
      answer += d;
    });
    socket.on("error", () => {});
    const closed = new Promise((r) => socket.once("close", r));
    if (first) socket.write(first);
    const drip = setInterval(() => {
      if (kind !== "silent" && !socket.destroyed) socket.write(kind.startsWith("body") ? "a" : "X");
      // A connection the server never cuts is given up by the client well past the limit: an overstay.
      if (Date.now() - started > limit * 4) socket.destroy();
    }, 300);
    await closed;
    clearInterval(drip);
    lived.push({ ms: Date.now() - started, answer: answer.split("\r\n")[0] ?? "" });
  }
  return { kind, limit, lived };
}

describe("slow and greedy clients", () => {
  it("cuts 200 trickling clients (headers and bodies, authenticated and not) by their timeouts for 40 s while honest clients get 202", async () => {
    const cutsBefore = await metric("smstats_http_connections_cut_total", 'reason="timeout"');
    const kinds: Kind[] = ["headers", "headers-auth", "body", "body-auth", "silent"];
    const slow = Array.from({ length: 200 }, (_, i) =>
      slowClient(kinds[i % kinds.length] as Kind, `127.0.0.${2 + (i % 10)}`, 40_000),
    );
    const honestStatuses: number[] = [];
    const honest = Array.from({ length: 4 }, async () => {
      const until = Date.now() + 40_000;
      while (Date.now() < until) {
        const res = await fetchBatch(base, instance, {
          ...seedBody(instance.instanceId),
          batch_id: uniqueId("honest"),
        });
        await res.arrayBuffer();
        honestStatuses.push(res.status);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const [results] = await Promise.all([Promise.all(slow), Promise.all(honest)]);

    const all = results.flatMap((r) => r.lived.map((l) => ({ ...l, kind: r.kind, limit: r.limit })));
    const overstays = all.filter((l) => l.ms > l.limit + SLACK_MS);
    const longest = Math.max(...all.map((l) => l.ms));
    console.log(
      `slow clients: ${all.length} connections cut, longest ${longest} ms; honest: ${honestStatuses.length} requests`,
    );
    expect(overstays, JSON.stringify(overstays.slice(0, 5))).toEqual([]);
    // Every connection was cut by the server with a 408 in the error shape (none was refused for the cap).
    expect(all.filter((l) => !l.answer.startsWith("HTTP/1.1 408"))).toEqual([]);
    expect(honestStatuses.length).toBeGreaterThan(40);
    expect(honestStatuses.filter((s) => s !== 202)).toEqual([]);
    expect(await metric("smstats_http_connections_cut_total", 'reason="timeout"')).toBeGreaterThanOrEqual(
      cutsBefore + all.length,
    );
    expect(errorLines()).toEqual([]);
  }, 120_000);

  it("refuses connections past the per-address cap with 503 and Retry-After, and counts them", async () => {
    const before = await metric("smstats_http_connections_cut_total", 'reason="per_address_limit"');
    const sockets = await Promise.all(Array.from({ length: PER_ADDRESS + 5 }, () => open("127.0.0.60")));
    const answers = sockets.map((s) => {
      let a = "";
      s.on("data", (d) => {
        a += d;
      });
      s.on("error", () => {});
      return () => a;
    });
    await new Promise((r) => setTimeout(r, 500));
    const refused = answers.map((a) => a()).filter((a) => a.startsWith("HTTP/1.1 503"));
    expect(refused).toHaveLength(5);
    expect(refused[0]).toMatch(/Retry-After: \d+/i);
    expect(refused[0]).toContain('"code":"TOO_MANY_CONNECTIONS"');
    for (const s of sockets) s.destroy();
    expect(await metric("smstats_http_connections_cut_total", 'reason="per_address_limit"')).toBe(before + 5);
    // Another address is not affected.
    const res = await fetchBatch(base, instance, {
      ...seedBody(instance.instanceId),
      batch_id: uniqueId("ok"),
    });
    expect(res.status).toBe(202);
  });

  it("closes a keep-alive connection past its keep-alive timeout uncounted, and counts a stalled request as an idle cut", async () => {
    const idle = () => metric("smstats_http_connections_cut_total", 'reason="idle"');
    const closed = (s: Socket) =>
      new Promise<number>((r) => {
        const t = Date.now();
        s.once("close", () => r(Date.now() - t));
      });
    const before = await idle();
    // One batch answered 202 on a keep-alive connection, then nothing: Node closes it after the keep-alive
    // timeout (2 s, plus the second Node adds).
    const kept = await open("127.0.0.80");
    kept.on("error", () => {});
    let answer = "";
    kept.on("data", (d) => {
      answer += d;
    });
    const { headers, payload } = await signedBatch("ka");
    const keptClosed = closed(kept);
    kept.write(
      `POST /v1/stats/batch HTTP/1.1\r\nHost: a\r\n${headers}Content-Length: ${payload.length}\r\n\r\n`,
    );
    kept.write(payload);
    expect(await keptClosed).toBeLessThan(4000);
    expect(answer).toMatch(/^HTTP\/1.1 202/);
    expect(await idle()).toBe(before);
    // A request whose body stops coming is cut after 3 s of silence (before its 5 s request timeout), and
    // counted as idle.
    const stalled = await open("127.0.0.81");
    stalled.on("error", () => {});
    stalled.on("data", () => {});
    const stalledClosed = closed(stalled);
    stalled.write(
      `POST /v1/instances/register HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"hw`,
    );
    const lived = await stalledClosed;
    expect(lived).toBeGreaterThanOrEqual(2900);
    expect(lived).toBeLessThan(4900);
    expect(await idle()).toBe(before + 1);
  });

  it("logs a client that disconnects mid-body at debug and counts it as CLIENT_DISCONNECTED", async () => {
    const before = await metric("smstats_http_errors_total", 'code="CLIENT_DISCONNECTED"');
    for (const path of ["/v1/stats/batch", "/v1/instances/register"]) {
      const socket = await open("127.0.0.70");
      socket.on("error", () => {});
      const auth = path.endsWith("batch") ? `Authorization: Bearer ${instance.token}\r\n` : "";
      const signed = await signedRequest(instance, {});
      const sig = path.endsWith("batch")
        ? Object.entries(signed.headers)
            .filter(([k]) => k.startsWith("x-sm"))
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join("")
        : "";
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n${auth}${sig}Content-Length: 5000\r\n\r\n{"instance_id":`,
      );
      await new Promise((r) => setTimeout(r, 200));
      socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(await metric("smstats_http_errors_total", 'code="CLIENT_DISCONNECTED"')).toBe(before + 2);
    expect(
      lines.filter((l) => l.code === "CLIENT_DISCONNECTED" && l.level === "debug").length,
    ).toBeGreaterThanOrEqual(2);
    expect(errorLines()).toEqual([]);
  });
});
