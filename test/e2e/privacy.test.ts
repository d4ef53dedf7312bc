import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { fetchBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";
import { type RunningService, startService } from "../support/services.ts";

// Batches full of personal data go through the whole pipeline; then every column of every table in the
// ClickHouse database is scanned for it. With the opt-in on, song titles (and artists) may appear,
// nothing else: no user id, file path or name, or IP address, whatever the instance's flags say.

const config = loadConfig();
const ch = serverExecutor(config.clickhouse);
let service: RunningService | undefined;
const run = Math.random().toString(36).slice(2, 8);
const secrets = {
  title: `Secret Song Title ${run}`,
  artist: `Hidden Artist ${run}`,
  optInTitle: `Public Song Title ${run}`,
  path: `/home/venue/karaoke/Private Folder ${run}/secret-file-${run}.mp4`,
  fileName: `secret-file-${run}`,
  userId: `user-private-${run}`,
  sessionUser: `guest-private-${run}`,
  ip: `198.51.100.${(run.charCodeAt(0) % 200) + 20}`,
  tagPath: `/var/lib/songmartyn/private-${run}.db`,
};

function body(instance: TestInstance, optIn: boolean, title: string) {
  const artist = optIn ? `Public Artist ${run}` : secrets.artist;
  const now = new Date().toISOString();
  return {
    instance_id: instance.instanceId,
    batch_id: `privacy-${run}-${optIn}`,
    timestamp: now,
    privacy: { anonymize_songs: !optIn, anonymize_users: !optIn, exclude_local: !optIn },
    metrics: [
      {
        name: "error_count_by_type",
        value: 1,
        tags: { type: "db", db_file: secrets.tagPath, peer: secrets.ip },
      },
    ],
    playback: [
      {
        event_type: "played",
        session_id: `s-${run}`,
        song: { artist, title, duration_sec: 200, source: "local", file_path: secrets.path },
        user_id: secrets.userId,
      },
      {
        event_type: "skipped",
        skip_reason: "user",
        song: { artist, title, source: "youtube", file_type: null, file_path: secrets.path },
        user_id: secrets.userId,
      },
    ],
    session: [
      { session_id: `s-${run}`, event_type: "user_joined", user_id: secrets.sessionUser, user_role: "guest" },
    ],
  };
}

async function tableDump(): Promise<string> {
  const tables = await ch.rows<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = ${sqlString(config.clickhouse.database)} AND engine NOT LIKE '%View'`,
  );
  const dumps = await Promise.all(tables.map((t) => ch.rows(`SELECT * FROM \`${t.name}\``)));
  return JSON.stringify(dumps);
}

beforeAll(async () => {
  service = await startService();
});
afterAll(async () => {
  await service?.stop("SIGTERM");
  await ch.close();
});

describe("privacy across the pipeline", () => {
  it("stores no title, user id, file path or IP address, and only opted-in titles", async () => {
    const url = (service as RunningService).ingestUrl;
    const [privateInstance, openInstance] = await Promise.all([registerInstance(url), registerInstance(url)]);
    for (const [inst, optIn, title] of [
      [privateInstance, false, secrets.title],
      [openInstance, true, secrets.optInTitle],
    ] as const) {
      const res = await fetchBatch(url, inst, body(inst, optIn, title));
      expect(res.status, await res.text()).toBe(202);
    }
    const ids = [privateInstance.instanceId, openInstance.instanceId].map(sqlString).join(", ");
    const deadline = Date.now() + 20_000;
    let rows = 0;
    while (Date.now() < deadline && rows < 4) {
      rows = Number(
        (
          await ch.rows<{ n: string }>(
            `SELECT count() AS n FROM events_playback WHERE instance_id IN (${ids})`,
          )
        )[0]?.n,
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(rows).toBe(4);

    const dump = await tableDump();
    for (const [name, value] of Object.entries(secrets)) {
      if (name === "optInTitle") continue;
      expect(dump.includes(value), `${name} (${value}) found in ClickHouse`).toBe(false);
    }
    // The opted-in instance (exclude_local off too) has its titles stored plain.
    expect(dump).toContain(secrets.optInTitle);
    const plain = await ch.rows<{ song_title: string; song_source: string }>(
      `SELECT song_title, song_source FROM events_playback WHERE instance_id = ${sqlString(openInstance.instanceId)} ORDER BY song_source`,
    );
    expect(plain).toEqual([
      { song_title: secrets.optInTitle, song_source: "local" },
      { song_title: secrets.optInTitle, song_source: "youtube" },
    ]);
  });
});
