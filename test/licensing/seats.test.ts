import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerInstance } from "../support/instance-client.ts";
import { fingerprint, instanceCall, machine } from "./license-client.ts";
import { type LicensingHarness, licensingHarness } from "./licensing-app.ts";

let h: LicensingHarness;
beforeAll(async () => {
  // Seats die after 2 s without a heartbeat; the background sweep is left to its default (1 min).
  h = await licensingHarness({ SMSTATS_LICENSE_HEARTBEAT_DEAD_S: "2" });
});
afterAll(async () => h?.close());

describe("seats", () => {
  it("answers TOO_MANY_INSTANCES to an instance beyond the license's limit", async () => {
    const { key } = await h.issue("party_host", { max_instances: 2 });
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const inst = await registerInstance(h.app);
      answers.push(
        await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: machine(inst.instanceId) }),
      );
    }
    expect(answers.map((a) => a.reason)).toEqual(["VALID", "VALID", "TOO_MANY_INSTANCES"]);
    // Refused, the instance still gets a Starter lease: it keeps running as the free tier.
    expect(answers[2]).toMatchObject({ valid: false, tier: "starter", lease: expect.any(String) });
  });

  it("gives out exactly the license's seats to concurrent activations", async () => {
    const { key, license } = await h.issue("venue", { max_instances: 3 });
    const instances = await Promise.all(Array.from({ length: 8 }, () => registerInstance(h.app)));
    const answers = await Promise.all(
      instances.map((inst) =>
        h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: machine(inst.instanceId) }),
      ),
    );
    const reasons = answers.map((a) => a.reason).sort();
    expect(reasons).toEqual([...Array(5).fill("TOO_MANY_INSTANCES"), ...Array(3).fill("VALID")]);
    const { rows } = await h.deps.pg.query(
      "SELECT count(*)::int AS n FROM license_activations WHERE license_id = $1 AND deactivated_at IS NULL",
      [license.id],
    );
    expect(rows[0].n).toBe(3);
  });

  it("takes the tier's seat count when the license does not override it", async () => {
    const { key } = await h.issue("venue");
    const reasons = [];
    for (let i = 0; i < 6; i++) {
      const inst = await registerInstance(h.app);
      reasons.push(
        (await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: machine(inst.instanceId) }))
          .reason,
      );
    }
    expect(reasons).toEqual(["VALID", "VALID", "VALID", "VALID", "VALID", "TOO_MANY_INSTANCES"]);
  });

  it("validates with one fingerprint component changed and follows it; refuses most changed", async () => {
    const inst = await registerInstance(h.app);
    const { key } = await h.issue();
    const raw = { machine_id: "m-1", mac: "aa:bb", disk: "disk-1", hostname: "karaoke-bar" };
    expect(
      (await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: fingerprint(raw) })).reason,
    ).toBe("VALID");
    const newDisk = { ...raw, disk: "disk-2" };
    expect(
      (await h.ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: fingerprint(newDisk) }))
        .reason,
    ).toBe("VALID");
    // The seat followed the new disk: a later NIC swap is again one change, not two.
    const newNic = { ...newDisk, mac: "cc:dd" };
    expect(
      (await h.ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: fingerprint(newNic) })).reason,
    ).toBe("VALID");
    const other = { machine_id: "m-9", mac: "ee:ff", disk: "disk-9", hostname: "karaoke-bar" };
    const refused = await h.ask(inst, "/v1/auth/validate", {
      license_key: key,
      fingerprint: fingerprint(other),
    });
    expect(refused).toMatchObject({ valid: false, reason: "FINGERPRINT_MISMATCH", tier: "starter" });
  });

  it("keeps a component the instance left out once, rather than forgetting it", async () => {
    const inst = await registerInstance(h.app);
    const { key } = await h.issue();
    const raw = { machine_id: "m-1", mac: "aa", disk: "d-1", hostname: "bar" };
    await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: fingerprint(raw) });
    const { hostname: _, ...withoutHost } = raw;
    expect((await h.ask(inst, "/v1/auth/validate", { fingerprint: fingerprint(withoutHost) })).reason).toBe(
      "VALID",
    );
    // Still four stored components: two of four match (had hostname been dropped, one of three would not).
    const twoChanged = { ...raw, machine_id: "m-2", mac: "bb" };
    expect((await h.ask(inst, "/v1/auth/validate", { fingerprint: fingerprint(twoChanged) })).reason).toBe(
      "VALID",
    );
  });

  it("frees a dead instance's seat after the configured time and says HEARTBEAT_DEAD to it", async () => {
    const { key } = await h.issue("party_host", { max_instances: 1 });
    const a = await registerInstance(h.app);
    const b = await registerInstance(h.app);
    expect(
      (await h.ask(a, "/v1/auth/activate", { license_key: key, fingerprint: machine(a.instanceId) })).reason,
    ).toBe("VALID");
    expect(
      (await h.ask(b, "/v1/auth/activate", { license_key: key, fingerprint: machine(b.instanceId) })).reason,
    ).toBe("TOO_MANY_INSTANCES");
    // A heartbeat keeps the seat past the dead time…
    await new Promise((r) => setTimeout(r, 1200));
    expect((await h.ask(a, "/v1/auth/heartbeat", { fingerprint: machine(a.instanceId) })).continue).toBe(
      true,
    );
    await new Promise((r) => setTimeout(r, 1200));
    expect(
      (await h.ask(b, "/v1/auth/activate", { license_key: key, fingerprint: machine(b.instanceId) })).reason,
    ).toBe("TOO_MANY_INSTANCES");
    // …its absence frees it.
    await new Promise((r) => setTimeout(r, 2100));
    expect(
      (await h.ask(b, "/v1/auth/activate", { license_key: key, fingerprint: machine(b.instanceId) })).reason,
    ).toBe("VALID");
    expect(
      (await h.ask(a, "/v1/auth/validate", { license_key: key, fingerprint: machine(a.instanceId) })).reason,
    ).toBe("HEARTBEAT_DEAD");
    const beat = await h.ask(a, "/v1/auth/heartbeat", { fingerprint: machine(a.instanceId) });
    expect(beat).toMatchObject({ reason: "HEARTBEAT_DEAD", tier: "starter" });
  });

  it("frees dead seats in the background sweep too", async () => {
    const { key } = await h.issue();
    const a = await registerInstance(h.app);
    await h.ask(a, "/v1/auth/activate", { license_key: key, fingerprint: machine(a.instanceId) });
    await new Promise((r) => setTimeout(r, 2100));
    expect(await h.deps.licensing.reapDeadSeats()).toBeGreaterThanOrEqual(1);
    const { rows } = await h.deps.pg.query(
      "SELECT deactivation_reason FROM license_activations WHERE instance_id = $1",
      [a.instanceId],
    );
    expect(rows).toEqual([{ deactivation_reason: "heartbeat_dead" }]);
    const { rows: inst } = await h.deps.pg.query("SELECT tier FROM instances WHERE id = $1", [a.instanceId]);
    expect(inst[0].tier).toBe("starter");
  });

  it("answers EXPIRED to an expired license and leases Starter", async () => {
    const inst = await registerInstance(h.app);
    const { key, license } = await h.issue("venue", {
      expires_at: new Date(Date.now() + 1500).toISOString(),
    });
    const fp = machine(inst.instanceId);
    const ok = await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: fp });
    expect(ok).toMatchObject({ reason: "VALID", tier: "venue" });
    // The lease never outlives the license.
    expect(Date.parse(ok.lease_expires_at as string)).toBeLessThanOrEqual(Date.now() + 1500);
    await new Promise((r) => setTimeout(r, 1600));
    const expired = await h.ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: fp });
    expect(expired).toMatchObject({
      valid: false,
      reason: "EXPIRED",
      tier: "starter",
      license_tier: "venue",
      license_id: license.id,
    });
    expect(expired.enforcement).toMatchObject({ mode: "graceful" });
    expect(expired.lease).toEqual(expect.any(String));
    // The sweep records the drop to Starter where enrichment and new tokens read the tier.
    await h.deps.licensing.reapDeadSeats();
    const { rows } = await h.deps.pg.query("SELECT tier FROM instances WHERE id = $1", [inst.instanceId]);
    expect(rows[0].tier).toBe("starter");
  });

  it("gives a free instance without a key a Starter lease", async () => {
    const inst = await registerInstance(h.app);
    const answer = await h.ask(inst, "/v1/auth/validate", { fingerprint: machine(inst.instanceId) });
    expect(answer).toMatchObject({
      valid: true,
      reason: "VALID",
      tier: "starter",
      license_id: null,
      limits: { max_songs: 25, max_guests: 5 },
    });
  });

  it("deactivates self-service up to the tier's transfer cap, then 429 TRANSFER_LIMIT with Retry-After", async () => {
    const { key } = await h.issue("party_host", { max_instances: 1 });
    const codes: number[] = [];
    let last: Awaited<ReturnType<typeof instanceCall>> | undefined;
    for (let i = 0; i < 4; i++) {
      const inst = await registerInstance(h.app);
      expect(
        (await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: machine(inst.instanceId) }))
          .reason,
      ).toBe("VALID");
      last = await instanceCall(h.app, inst, "DELETE", `/v1/instances/${inst.instanceId}`);
      codes.push(last.statusCode);
      if (last.statusCode === 200) expect(last.json()).toMatchObject({ transfers_left: 2 - i });
    }
    expect(codes).toEqual([200, 200, 200, 429]);
    expect(last?.json().error.code).toBe("TRANSFER_LIMIT");
    expect(Number(last?.headers["retry-after"])).toBeGreaterThan(29 * 86400);
  });

  it("refuses to deactivate another instance (403) or one without a seat (409)", async () => {
    const a = await registerInstance(h.app);
    const b = await registerInstance(h.app);
    expect((await instanceCall(h.app, a, "DELETE", `/v1/instances/${b.instanceId}`)).json().error.code).toBe(
      "INSTANCE_MISMATCH",
    );
    const none = await instanceCall(h.app, a, "DELETE", `/v1/instances/${a.instanceId}`);
    expect([none.statusCode, none.json().error.code]).toEqual([409, "NOT_ACTIVATED"]);
  });

  it("replaces the instance's seat when it activates another key", async () => {
    const inst = await registerInstance(h.app);
    const first = await h.issue("party_host");
    const second = await h.issue("venue");
    const fp = machine(inst.instanceId);
    await h.ask(inst, "/v1/auth/activate", { license_key: first.key, fingerprint: fp });
    expect((await h.ask(inst, "/v1/auth/activate", { license_key: second.key, fingerprint: fp })).tier).toBe(
      "venue",
    );
    expect((await h.ask(inst, "/v1/auth/validate", { license_key: first.key, fingerprint: fp })).reason).toBe(
      "NOT_ACTIVATED",
    );
    expect((await h.ask(inst, "/v1/auth/validate", { fingerprint: fp })).tier).toBe("venue");
  });
});
