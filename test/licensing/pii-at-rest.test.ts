import { randomBytes } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerInstance } from "../support/instance-client.ts";
import { instanceCall, machine, newNonce } from "./license-client.ts";
import { type LicensingHarness, licensingHarness } from "./licensing-app.ts";

let h: LicensingHarness;

const cookieOf = (res: LightMyRequestResponse, name: string): string => {
  const c = res.cookies.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} cookie in ${res.statusCode} ${res.body}`);
  return `${name}=${c.value}`;
};
beforeAll(async () => {
  // Two unknown keys make an address a key guesser, so its flag is written in this test; the client
  // addresses come in X-Forwarded-For from the (trusted) loopback proxy.
  h = await licensingHarness({
    SMSTATS_LICENSE_KEY_GUESSES: "2",
    SMSTATS_INGEST_TRUST_PROXY: "127.0.0.1,::1",
  });
});
afterAll(async () => h?.close());

/**
 * Every row of every table of the public schema whose text form holds the value, clear or as the hex of
 * its bytes (a bytea column holding the clear value prints as hex): table → matching rows.
 */
async function scanPostgres(value: string): Promise<Record<string, number>> {
  const { rows: tables } = await h.deps.pg.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  const found: Record<string, number> = {};
  const hex = Buffer.from(value, "utf8").toString("hex");
  for (const { table_name } of tables) {
    const { rows } = await h.deps.pg.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table_name}" t WHERE strpos(lower(t::text), lower($1)) > 0 OR strpos(t::text, $2) > 0`,
      [value, hex],
    );
    if ((rows[0]?.n ?? 0) > 0) found[table_name] = rows[0]?.n as number;
  }
  expect(tables.length).toBeGreaterThan(20);
  return found;
}

describe("personal fields sealed at rest in PostgreSQL", () => {
  it("holds no clear email or address in any column, and lookups by email still work", async () => {
    const tag = randomBytes(4).toString("hex");
    const ownerEmail = `Seal.Owner.${tag}@pii-test.example`;
    const buyerEmail = `seal-buyer-${tag}@pii-test.example`;
    // Public addresses GeoLite2 places (DE, JP), one per role, and one guessing keys.
    const activationIp = `2.168.182.${10 + ((randomBytes(1)[0] as number) % 200)}`;
    const adminIp = `3.113.134.${10 + ((randomBytes(1)[0] as number) % 200)}`;
    const guessIp = `49.146.233.${10 + ((randomBytes(1)[0] as number) % 200)}`;
    // Flags of earlier runs on the same stack may name the same address (one of 200): count this run's.
    const started = (await h.deps.pg.query<{ t: Date }>("SELECT now() AS t")).rows[0]?.t;

    const reg = await h.app.inject({
      method: "POST",
      url: "/v1/instances/register",
      payload: {
        hwid: `seal${tag}`.padEnd(32, "0"),
        platform: "linux",
        version: "1.2.0",
        owner_email: ownerEmail,
      },
      headers: { "x-forwarded-for": activationIp },
    });
    expect(reg.statusCode, reg.body).toBe(201);
    const instanceId = reg.json().instance_id as string;
    const issued = await h.app.inject({
      method: "POST",
      url: "/v1/admin/licenses",
      payload: { tier: "party_host", owner_email: buyerEmail, days: 30 },
      headers: { authorization: `Bearer ${h.admin}`, "x-forwarded-for": adminIp },
    });
    expect(issued.statusCode, issued.body).toBe(201);
    const { license, key } = issued.json();
    const inst = await registerInstance(h.app);
    const act = await instanceCall(
      h.app,
      inst,
      "POST",
      "/v1/auth/activate",
      { license_key: key, fingerprint: machine(inst.instanceId), nonce: newNonce() },
      { "x-forwarded-for": activationIp },
    );
    expect(act.json().reason, act.body).toBe("VALID");
    for (let i = 0; i < 2; i++) {
      const guess = await instanceCall(
        h.app,
        inst,
        "POST",
        "/v1/auth/activate",
        {
          license_key: `SM-VENUE-20260101-${"Q".repeat(18)}${i}`.slice(0, 40),
          fingerprint: machine("g"),
          nonce: newNonce(),
        },
        { "x-forwarded-for": guessIp },
      );
      expect(guess.statusCode).toBeLessThan(500);
    }

    // The scan: neither email (in any case) nor any address is stored readable anywhere.
    for (const value of [ownerEmail, buyerEmail, activationIp, adminIp, guessIp]) {
      expect({ value, found: await scanPostgres(value) }).toEqual({ value, found: {} });
    }
    // The rows are there, sealed: the flag names the address's keyed tag, the activation its country.
    const flags = await h.deps.pg.query(
      "SELECT subject FROM abuse_flags WHERE subject = $1 AND created_at >= $2",
      [`ip:${h.deps.vault.addressTag(guessIp)}`, started],
    );
    expect(flags.rowCount).toBe(1);

    // Lookups by email go through the blind index, whatever the case.
    const found = (
      await h.adminCall("GET", `/v1/admin/instances?q=${encodeURIComponent(ownerEmail.toUpperCase())}`)
    ).json();
    expect(found.items.map((i: { id: string; owner_email: string }) => [i.id, i.owner_email])).toEqual([
      [instanceId, ownerEmail],
    ]);
    const byOwner = (
      await h.adminCall("GET", `/v1/admin/licenses?owner_email=${encodeURIComponent(buyerEmail)}`)
    ).json();
    expect(byOwner.map((l: { id: string }) => l.id)).toEqual([license.id]);
    // Admins see the opened address and its country; the audit entry opens the admin's address.
    const shown = (await h.adminCall("GET", `/v1/admin/licenses/${license.id}`)).json();
    expect(shown.owner_email).toBe(buyerEmail);
    expect(shown.activations).toEqual([
      expect.objectContaining({ instance_id: inst.instanceId, ip_address: activationIp, country: "DE" }),
    ]);
    const audit = (await h.adminCall("GET", `/v1/admin/audit?target_id=${license.id}`)).json();
    expect(audit).toEqual([expect.objectContaining({ action: "license.issue", ip: adminIp })]);

    // The portal signs in with the key and shows the device's country.
    const signIn = await h.app.inject({
      method: "POST",
      url: "/v1/portal/session",
      payload: { license_key: key },
    });
    expect(signIn.statusCode, signIn.body).toBe(200);
    const devices = await h.app.inject({
      method: "GET",
      url: "/v1/portal/devices",
      headers: { cookie: cookieOf(signIn, "smstats_portal") },
    });
    expect(devices.json()).toEqual([
      expect.objectContaining({ instance_id: inst.instanceId, country: "DE" }),
    ]);
  });
});
