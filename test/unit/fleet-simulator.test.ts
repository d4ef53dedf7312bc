import { describe, expect, it } from "vitest";
import { createFleet, toJsonBody } from "../../loadtest/fleet/index.ts";
import { createCountryLookup } from "../../processors/steps/enrich/index.ts";
import { METRICS_BATCH_SCHEMA, SchemaRegistry } from "../../schemas/index.ts";

const END = Date.parse("2026-11-24T00:00:00Z");
const latest = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
const fleet = createFleet({ seed: 7, instances: 40, days: 7, end: END });
const all = [...fleet.batches()];

describe("fleet simulator", () => {
  it("gives the same instances and batches for the same seed, and different ones for another seed", () => {
    const again = createFleet({ seed: 7, instances: 40, days: 7, end: END });
    expect(again.instances).toEqual(fleet.instances);
    expect([...again.batches()]).toEqual(all);
    const other = createFleet({ seed: 8, instances: 40, days: 7, end: END });
    expect(other.instances.map((i) => i.hwid)).not.toEqual(fleet.instances.map((i) => i.hwid));
  });

  it("yields batches in timestamp order, within the simulated days, with per-instance seq from 1", () => {
    let last = 0;
    const seq = new Map<string, number>();
    for (const { instance, batch } of all) {
      expect(batch.timestamp_ms).toBeGreaterThanOrEqual(last);
      last = batch.timestamp_ms;
      expect(batch.timestamp_ms).toBeGreaterThan(END - 7 * 86_400_000);
      expect(batch.timestamp_ms).toBeLessThanOrEqual(END);
      expect(batch.instance_id).toBe(instance.instance_id);
      expect(batch.seq).toBe((seq.get(instance.instance_id) ?? 0) + 1);
      seq.set(instance.instance_id, batch.seq);
    }
    expect(new Set(all.map((b) => `${b.batch.instance_id}/${b.batch.batch_id}`)).size).toBe(all.length);
  });

  it("produces batches valid for the latest Avro schema and the JSON body ingest takes", () => {
    for (const { batch } of all.slice(0, 300)) {
      const errors: string[] = [];
      expect(
        latest.type.isValid(batch, { errorHook: (path) => errors.push(path.join(".")) }),
        errors.join(),
      ).toBe(true);
      expect(JSON.parse(JSON.stringify(toJsonBody(batch))).instance_id).toBe(batch.instance_id);
    }
  });

  it("fills every family and every name the rollups and analyst queries read", () => {
    const names = new Set(all.flatMap((b) => b.batch.metrics.map((m) => m.name)));
    for (const n of [
      "uptime_seconds",
      "websocket_connections_total",
      "websocket_errors",
      "mpv_health_status",
      "mpv_restart_count",
      "api_response_times_ms",
      "error_count_by_type",
      "memory_usage_mb",
      "cpu_usage_percent",
    ]) {
      expect(names, n).toContain(n);
    }
    const playback = all.flatMap((b) => b.batch.playback);
    expect(new Set(playback.map((e) => e.event_type))).toEqual(
      new Set(["queued", "played", "skipped", "removed"]),
    );
    expect(new Set(playback.map((e) => e.skip_reason))).toEqual(new Set([null, "user", "admin", "error"]));
    expect(new Set(playback.map((e) => e.song.source))).toEqual(new Set(["youtube", "local", "other"]));
    const session = all.flatMap((b) => b.batch.session);
    expect(new Set(session.map((e) => e.event_type))).toEqual(
      new Set(["started", "ended", "user_joined", "user_left", "snapshot"]),
    );
    expect(all.some((b) => b.batch.library.length > 0 && b.batch.environment)).toBe(true);
  });

  it("plays mpv health every 30 s while a song plays", () => {
    // Per instance, consecutive samples are 30 s apart within a song; a gap of 15 s or more separates songs.
    const gaps: number[] = [];
    for (const i of fleet.instances) {
      const times = all
        .filter((b) => b.instance === i)
        .flatMap((b) =>
          b.batch.metrics.filter((m) => m.name === "mpv_health_status").map((m) => m.time_ms as number),
        );
      for (let k = 1; k < times.length; k++) gaps.push((times[k] as number) - (times[k - 1] as number));
    }
    const within = gaps.filter((g) => g === 30_000).length;
    expect(gaps.every((g) => g > 0)).toBe(true);
    expect(within / gaps.length).toBeGreaterThan(0.85);
  });

  it("has error rates that differ by version (1.4.0 is the buggy release)", () => {
    const perVersion = new Map<string, { errors: number; batches: number }>();
    for (const { batch } of all) {
      const v = perVersion.get(batch.app_version) ?? { errors: 0, batches: 0 };
      v.batches++;
      for (const m of batch.metrics) if (m.name === "error_count_by_type") v.errors += m.value;
      perVersion.set(batch.app_version, v);
    }
    const rate = (v: string) => {
      const x = perVersion.get(v);
      return x ? x.errors / x.batches : Number.NaN;
    };
    expect(rate("1.4.0")).toBeGreaterThan(2 * rate("1.4.2"));
  });

  it("spells tiers as PostgreSQL and ClickHouse do and gives IPs that geoip maps to the instance's country", () => {
    const lookup = createCountryLookup();
    for (const i of createFleet({ seed: 3, instances: 300, days: 1, end: END }).instances) {
      expect(["starter", "party_host", "venue"]).toContain(i.tier);
      expect(lookup(i.ip), i.ip).toBe(i.country);
    }
  });
});
