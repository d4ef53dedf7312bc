import { randomBytes } from "node:crypto";
import {
  bodySha256Hex,
  requestSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";
import type { MetricsBatch } from "../../schemas/index.ts";
import { toJsonBody } from "./json-body.ts";
import type { SimInstance } from "./types.ts";

/** A simulated instance after registration: what a real instance keeps. */
export interface RegisteredInstance {
  sim: SimInstance;
  /** The id ingest assigned (batches are sent under it, not the simulator's). */
  id: string;
  token: string;
  refreshToken: string;
  secret: Buffer;
}

/** How one batch ended after retries. */
export type SendOutcome =
  | { ok: true; duplicate: boolean; attempts: number }
  | { ok: false; code: string; attempts: number };

/** Limits of the client's retries. */
export interface FleetClientOptions {
  /** Most tries of one request (429, 503 and an expired token are retried). */
  maxAttempts?: number;
  /** Longest wait between tries, ms, whatever Retry-After says. */
  maxWaitMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Talks to ingest as the simulated instances would: registers them (from their simulated address, sent as
 * X-Forwarded-For, which ingest honours only from proxies it trusts), signs every batch, waits out 429/503
 * as Retry-After asks, and refreshes an expired token.
 */
export class FleetHttpClient {
  private lastTimestamp = 0;
  readonly maxAttempts: number;
  readonly maxWaitMs: number;
  /** Appended to every simulated hwid this client registers (see register). */
  private readonly runSuffix: string;

  constructor(
    readonly baseUrl: string,
    opts: FleetClientOptions = {},
  ) {
    if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(baseUrl)) {
      throw new Error(`the simulated fleet only talks to loopback, not ${baseUrl}`);
    }
    this.maxAttempts = opts.maxAttempts ?? 30;
    this.runSuffix = randomBytes(6).toString("hex");
    this.maxWaitMs = opts.maxWaitMs ?? 10_000;
  }

  /**
   * Registers an instance, consenting to every family. A known hwid is given back only with proof of
   * possession, which this client does not keep between runs: each client registers the simulator's hwid
   * with a suffix of its own, so a second run (a second demo) gets instances of its own.
   */
  async register(sim: SimInstance): Promise<RegisteredInstance> {
    const res = await fetch(`${this.baseUrl}/v1/instances/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": sim.ip },
      body: JSON.stringify({
        hwid: `${sim.hwid}-${this.runSuffix}`,
        platform: sim.platform,
        version: sim.version,
        consent: { quality: true, playback: true, session: true, library: true },
      }),
    });
    const body = (await res.json()) as Record<string, string>;
    if (res.status !== 201)
      throw new Error(`registering ${sim.hwid} failed: ${res.status} ${JSON.stringify(body)}`);
    return {
      sim,
      id: body.instance_id as string,
      token: body.instance_token as string,
      refreshToken: body.refresh_token as string,
      secret: Buffer.from(body.signing_secret as string, "base64url"),
    };
  }

  /** Renews an instance's tokens in place. */
  async refresh(inst: RegisteredInstance): Promise<void> {
    const res = await fetch(`${this.baseUrl}/v1/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: inst.refreshToken }),
    });
    const body = (await res.json()) as Record<string, string>;
    if (res.status !== 200) throw new Error(`refresh failed: ${res.status} ${JSON.stringify(body)}`);
    inst.token = body.instance_token as string;
    inst.refreshToken = body.refresh_token as string;
  }

  /** Sends one simulated batch as the registered instance, retrying what a real client retries. */
  async send(inst: RegisteredInstance, batch: MetricsBatch): Promise<SendOutcome> {
    const payload = Buffer.from(JSON.stringify(toJsonBody({ ...batch, instance_id: inst.id })));
    const path = "/v1/stats/batch";
    for (let attempt = 1; ; attempt++) {
      // Each try is signed afresh: a signature is accepted once.
      this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1);
      const timestamp = this.lastTimestamp;
      const res = await fetch(`${this.baseUrl}${path}`, {
        method: "POST",
        body: payload,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${inst.token}`,
          "x-forwarded-for": inst.sim.ip,
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: requestSignature({
            secret: inst.secret,
            method: "POST",
            path,
            timestamp,
            bodySha256Hex: bodySha256Hex(payload),
          }),
        },
      });
      const body = (await res.json().catch(() => ({}))) as {
        duplicate?: boolean;
        error?: { code?: string };
      };
      if (res.status === 202) return { ok: true, duplicate: body.duplicate === true, attempts: attempt };
      const code = body.error?.code ?? `HTTP_${res.status}`;
      if (attempt >= this.maxAttempts) return { ok: false, code, attempts: attempt };
      if (res.status === 429 || res.status === 503) {
        const after = Number(res.headers.get("retry-after") ?? "1");
        await sleep(Math.min(this.maxWaitMs, (Number.isFinite(after) ? after : 1) * 1000));
      } else if (code === "TOKEN_EXPIRED") {
        await this.refresh(inst);
      } else {
        return { ok: false, code, attempts: attempt };
      }
    }
  }
}
