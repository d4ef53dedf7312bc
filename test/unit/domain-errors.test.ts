import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import {
  domainHttpError,
  LICENSING_HTTP_CODES,
  WEBHOOK_HTTP_CODES,
} from "../../ingest/plugins/domain-errors.ts";
import { errorHandler, HttpErrors } from "../../lib/http/index.ts";
import { LicensingError, type LicensingErrorCode } from "../../licensing/index.ts";
import { WebhookError } from "../../webhooks/index.ts";

const root = join(import.meta.dirname, "..", "..");

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** The body of every `catch (name) { … }` block of a source, with the caught name. */
function catchBlocks(source: string): { name: string; body: string }[] {
  const blocks: { name: string; body: string }[] = [];
  for (const m of source.matchAll(/catch\s*\((\w+)\)\s*\{/g)) {
    let depth = 1;
    let i = (m.index ?? 0) + m[0].length;
    const start = i;
    while (depth > 0 && i < source.length) {
      if (source[i] === "{") depth++;
      else if (source[i] === "}") depth--;
      i++;
    }
    blocks.push({ name: m[1] as string, body: source.slice(start, i - 1) });
  }
  return blocks;
}

async function answerOf(err: Error) {
  const app = Fastify({ logger: false });
  await app.register(errorHandler, { retryAfterSeconds: 7, mapError: domainHttpError });
  app.get("/", async () => {
    throw err;
  });
  const res = await app.inject({ method: "GET", url: "/" });
  await app.close();
  return { status: res.statusCode, body: res.json(), retryAfter: res.headers["retry-after"] };
}

describe("one place maps domain errors to HTTP", () => {
  it("no ingest route or hook catches a licensing or webhook error to translate it", () => {
    const offenders: string[] = [];
    for (const file of tsFiles(join(root, "ingest"))) {
      const rel = relative(root, file);
      if (rel === join("ingest", "plugins", "domain-errors.ts")) continue;
      const source = readFileSync(file, "utf8");
      if (/\btoHttpError\b/.test(source)) offenders.push(`${rel}: toHttpError`);
      if (/const wrap\s*=/.test(source)) offenders.push(`${rel}: a wrap helper`);
      if (/HttpErrors\[\s*\w+\.code/.test(source)) offenders.push(`${rel}: HttpErrors[err.code]`);
      for (const { name, body } of catchBlocks(source)) {
        if (!/LicensingError|WebhookError|isLicensingError/.test(body)) continue;
        // A catch that looks at a domain error may count it, then must rethrow it unchanged.
        const throws = [...body.matchAll(/throw\s+([^;]+);/g)].map((t) => t[1]?.trim());
        if (throws.some((t) => t !== name) || /new HttpErrors/.test(body)) {
          offenders.push(`${rel}: catch (${name}) translates a domain error`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it("maps every licensing code onto an error of the HTTP registry", () => {
    for (const [code, httpCode] of Object.entries(LICENSING_HTTP_CODES)) {
      const mapped = domainHttpError(new LicensingError(code as LicensingErrorCode, "x"));
      expect(mapped?.code, code).toBe(httpCode);
      expect(mapped?.statusCode, code).toBe(new HttpErrors[httpCode]().statusCode);
      expect((mapped as { cause?: unknown }).cause, code).toBeInstanceOf(LicensingError);
    }
    for (const [code, httpCode] of Object.entries(WEBHOOK_HTTP_CODES)) {
      const mapped = domainHttpError(new WebhookError(code as keyof typeof WEBHOOK_HTTP_CODES, "why"));
      expect(mapped?.code, code).toBe(httpCode);
      expect(mapped?.message, code).toContain("why");
    }
    expect(domainHttpError(new Error("plain"))).toBeUndefined();
  });

  it("answers a licensing error thrown by a route with its status and code", async () => {
    expect(await answerOf(new LicensingError("LICENSE_NOT_FOUND", "no license 42"))).toMatchObject({
      status: 404,
      body: { error: { code: "LICENSE_NOT_FOUND", message: "no such license" } },
    });
    expect(await answerOf(new LicensingError("TOKEN_EXPIRED", "old"))).toMatchObject({
      status: 401,
      body: { error: { code: "TOKEN_EXPIRED" } },
    });
  });

  it("sends the licensing error's Retry-After with a throttling answer", async () => {
    const err = new LicensingError("TRANSFER_LIMIT", "moved too often", { retryAfterSeconds: 3600 });
    expect(await answerOf(err)).toMatchObject({
      status: 429,
      retryAfter: "3600",
      body: { error: { code: "TRANSFER_LIMIT" } },
    });
  });

  it("answers a server-side licensing failure 500 INTERNAL without its message", async () => {
    expect(await answerOf(new LicensingError("KEYRING_INVALID", "key file /secret broken"))).toEqual({
      status: 500,
      retryAfter: undefined,
      body: { error: { code: "INTERNAL", message: "internal error" } },
    });
  });

  it("keeps a webhook error's own message", async () => {
    expect(await answerOf(new WebhookError("WEBHOOK_TARGET_REFUSED", "loopback target refused"))).toEqual({
      status: 400,
      retryAfter: undefined,
      body: { error: { code: "WEBHOOK_TARGET_REFUSED", message: "loopback target refused" } },
    });
  });
});

describe("a connection reset while the client waits", () => {
  it("is a store's outage (503 with Retry-After), not the client leaving (400 CLIENT_DISCONNECTED)", async () => {
    // What node-postgres throws when its socket resets mid-query: no port says which store it was.
    const reset = Object.assign(new Error("read ECONNRESET"), {
      code: "ECONNRESET",
      syscall: "read",
      errno: -104,
    });
    const app = Fastify({ logger: false });
    await app.register(errorHandler, { retryAfterSeconds: 7, mapError: domainHttpError });
    app.get("/", async () => {
      throw reset;
    });
    const address = await app.listen({ host: "127.0.0.1", port: 0 });
    try {
      const res = await fetch(address);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("7");
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("DEPENDENCY_UNAVAILABLE");
    } finally {
      await app.close();
    }
  });
});
