import type {
  LibrarySnapshot,
  Metric,
  MetricsBatch,
  PlaybackEvent,
  SessionEvent,
  Song,
} from "../../schemas/index.ts";
import {
  COUNTRIES,
  ERROR_TYPES,
  FILE_TYPES,
  OPERATIONS,
  OS_VERSIONS,
  PLATFORMS,
  SONGS,
  SOURCES,
  TIERS,
  VERSIONS,
} from "./catalog.ts";
import { createRandom, mixSeed, type Random } from "./random.ts";
import type { SimInstance, Tier } from "./types.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** mpv reports its health every 30 s while a song plays. */
const HEALTH_EVERY_MS = 30_000;
const LONG_TAIL_SONGS = 400;

/** Everything about an instance that stays the same for the whole simulation. */
export interface InstanceProfile extends SimInstance {
  index: number;
  utcOffset: number;
  errorFactor: number;
  goVersion: string;
  mpvVersion: string;
  osVersion: string;
  cpuCores: number;
  ramGb: number;
  anonymizeSongs: boolean;
  /** Library at the start of the simulated window and its growth, songs per day. */
  librarySongs: number;
  libraryGrowth: number;
  librarySources: Record<string, number>;
  libraryTypes: Record<string, number>;
  avgDurationSec: number;
}

const hex = (r: Random, n: number) => {
  let s = "";
  for (let i = 0; i < n; i++) s += r.int(0, 15).toString(16);
  return s;
};

function uuid(r: Random): string {
  const h = hex(r, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[r.int(0, 3)]}${h.slice(17, 20)}-${h.slice(20)}`;
}

function shares<T extends string>(r: Random, total: number, mix: readonly (readonly [T, number])[]) {
  const weights = mix.map(([k, w]) => [k, w * r.between(0.6, 1.4)] as const);
  const sum = weights.reduce((a, [, w]) => a + w, 0);
  const out: Record<string, number> = {};
  for (const [k, w] of weights) out[k] = Math.round((total * w) / sum);
  return out;
}

/** The profile of instance `index` of a fleet seeded with `seed`. */
export function createProfile(seed: number, index: number): InstanceProfile {
  const r = createRandom(mixSeed(seed, index, 0x1157));
  const tier = r.weighted(TIERS);
  const platform = r.weighted(PLATFORMS);
  const v = r.weighted(VERSIONS.map((x) => [x, x.weight] as const));
  const c = r.weighted(COUNTRIES.map((x) => [x, x.weight] as const));
  const songs =
    tier === "venue" ? r.int(6_000, 40_000) : tier === "party_host" ? r.int(800, 8_000) : r.int(50, 1_500);
  const local = SOURCES[tier].find(([s]) => s === "local")?.[1] ?? 50;
  const sources = shares(r, songs, [
    ["local", local],
    ["youtube", 100 - local],
    ["other", 4],
  ]);
  const types: Record<string, number> = {};
  for (const [source, n] of Object.entries(sources)) {
    for (const [t, k] of Object.entries(shares(r, n, FILE_TYPES[source] ?? [])))
      types[t] = (types[t] ?? 0) + k;
  }
  const oses = OS_VERSIONS[platform] ?? [""];
  return {
    index,
    instance_id: uuid(r),
    hwid: hex(r, 32),
    tier,
    platform,
    version: v.version,
    country: c.country,
    ip: `${c.net}.${r.int(1, 254)}`,
    utcOffset: c.utcOffset,
    errorFactor: v.errorFactor,
    goVersion: v.goVersion,
    mpvVersion: v.mpvVersion,
    osVersion: oses[r.int(0, oses.length - 1)] as string,
    cpuCores: r.weighted([
      [2, 15],
      [4, 45],
      [8, 30],
      [16, 10],
    ]),
    ramGb: r.weighted([
      [3.8, 15],
      [7.6, 45],
      [15.5, 30],
      [31.3, 10],
    ]),
    anonymizeSongs: !r.chance(0.1),
    librarySongs: songs,
    libraryGrowth:
      tier === "venue" ? r.between(5, 40) : tier === "party_host" ? r.between(1, 12) : r.between(0, 4),
    librarySources: sources,
    libraryTypes: types,
    avgDurationSec: r.between(205, 250),
  };
}

/** One party (or venue night): from the app's first batch to the session's end. */
interface Period {
  start: number;
  end: number;
}

// How many nights a week each tier is online, and how long: venues open nearly nightly, homes now and then.
const SCHEDULE: Record<
  Tier,
  { nightly: number; weekend: number; hours: [number, number]; startHour: [number, number] }
> = {
  starter: { nightly: 0.1, weekend: 0.35, hours: [1.5, 3.5], startHour: [18, 22] },
  party_host: { nightly: 0.25, weekend: 0.7, hours: [3, 6], startHour: [18, 21] },
  venue: { nightly: 0.85, weekend: 0.98, hours: [6, 8.5], startHour: [19, 21] },
};

function periods(p: InstanceProfile, seed: number, from: number, to: number): Period[] {
  const out: Period[] = [];
  const s = SCHEDULE[p.tier];
  const firstDay = Math.floor(from / DAY) - 1;
  for (let day = firstDay; day * DAY < to; day++) {
    const r = createRandom(mixSeed(seed, p.index, day, 0xda7));
    // Local weekday of the evening: Friday and Saturday are party nights.
    const weekday = new Date(day * DAY).getUTCDay();
    const weekend = weekday === 5 || weekday === 6;
    if (!r.chance(weekend ? s.weekend : s.nightly)) continue;
    const localStart = r.between(s.startHour[0], s.startHour[1]);
    const start = Math.round(day * DAY + (localStart - p.utcOffset) * HOUR);
    const end = Math.round(start + r.between(s.hours[0], s.hours[1]) * HOUR);
    if (start < from || start >= to) continue;
    out.push({ start, end });
  }
  return out;
}

interface Timed {
  time: number;
}

/** What happens during one period, item by item, before it is cut into batches. */
interface PeriodEvents {
  playback: (PlaybackEvent & Timed)[];
  session: (SessionEvent & Timed)[];
  health: (Metric & Timed)[];
  errors: { time: number; type: string }[];
  /** [time, users present after] for every join and leave, in time order. */
  presence: { time: number; byRole: Record<string, number>; joined: number; peak: number }[];
  playing: [number, number][];
  restarts: number[];
}

function poisson(r: Random, lambda: number): number {
  let n = 0;
  let t = r.exponential(1);
  while (t < lambda) {
    n++;
    t += r.exponential(1);
  }
  return n;
}

function pickSong(r: Random, p: InstanceProfile): Song {
  const n = SONGS.length + LONG_TAIL_SONGS;
  // Roughly Zipf: a few songs are sung everywhere, most rarely.
  const rank = Math.min(n - 1, Math.floor(Math.exp(r.next() * Math.log(n + 1))) - 1);
  const source = r.weighted(SOURCES[p.tier]);
  const fileType = r.weighted(FILE_TYPES[source] ?? [["mp4", 1]]);
  let artist: string;
  let title: string;
  let duration: number;
  if (rank < SONGS.length) {
    const s = SONGS[rank] as (typeof SONGS)[number];
    [artist, title, duration] = [s[0], s[1], s[2]];
  } else {
    const k = rank - SONGS.length;
    artist = `Artist ${k % 97}`;
    title = `Song ${k}`;
    duration = 150 + ((k * 37) % 200);
  }
  const known = r.chance(0.95);
  return {
    artist: known ? artist : null,
    title: known ? title : null,
    duration_sec: known ? duration : null,
    source,
    file_type: source === "youtube" && r.chance(0.2) ? null : fileType,
    file_path: source === "local" ? `/srv/karaoke/${artist}/${artist} - ${title}.${fileType}` : null,
  };
}

function simulatePeriod(
  p: InstanceProfile,
  r: Random,
  period: Period,
  sessionId: string,
  counters: { songsTotal: number },
): PeriodEvents {
  const ev: PeriodEvents = {
    playback: [],
    session: [],
    health: [],
    errors: [],
    presence: [],
    playing: [],
    restarts: [],
  };
  const { start, end } = period;
  const rooms = p.tier === "venue" ? r.int(1, 3) : 1;
  ev.session.push({
    ...blankSession(sessionId, start),
    event_type: "started",
    start_ms: start,
    room_count: rooms,
  });

  // Guests: the host first, then arrivals over the first three quarters of the night, each staying a while.
  const guests = p.tier === "venue" ? r.int(20, 80) : p.tier === "party_host" ? r.int(6, 25) : r.int(2, 9);
  const people: { id: string; role: string; join: number; leave: number }[] = [
    { id: `user-${p.index}-host`, role: "admin", join: start + 20_000, leave: end },
  ];
  const moderators = p.tier === "starter" ? 0 : r.int(0, 2);
  for (let i = 0; i < guests; i++) {
    const join = Math.round(start + r.next() ** 1.5 * 0.75 * (end - start));
    const stay = r.between(0.3, 1) * (end - join);
    const regular = p.tier === "venue" && r.chance(0.4);
    const id = regular ? `user-${p.index}-r${r.int(1, 60)}` : `user-${p.index}-${start.toString(36)}-${i}`;
    people.push({ id, role: i < moderators ? "moderator" : "guest", join, leave: Math.round(join + stay) });
  }
  const changes: { time: number; delta: 1 | -1; person: (typeof people)[number] }[] = [];
  for (const person of people) {
    changes.push({ time: person.join, delta: 1, person });
    if (person.leave < end) changes.push({ time: person.leave, delta: -1, person });
  }
  changes.sort((a, b) => a.time - b.time);
  const byRole: Record<string, number> = {};
  let present = 0;
  let joined = 0;
  let peak = 0;
  for (const c of changes) {
    byRole[c.person.role] = (byRole[c.person.role] ?? 0) + c.delta;
    present += c.delta;
    if (c.delta > 0) joined++;
    peak = Math.max(peak, present);
    ev.session.push({
      ...blankSession(sessionId, c.time),
      event_type: c.delta > 0 ? "user_joined" : "user_left",
      user_id: c.person.id,
      user_role: c.person.role,
    });
    ev.presence.push({ time: c.time, byRole: { ...byRole }, joined, peak });
  }
  const presentAt = (t: number) => people.filter((x) => x.join <= t && x.leave > t);

  // Songs back to back from a few minutes in: each queued earlier by someone present, then played or skipped.
  let t = Math.round(start + r.between(2, 6) * MINUTE);
  let playedInSession = 0;
  const skipBase = 0.07 * Math.sqrt(p.errorFactor);
  while (t < end - 2 * MINUTE) {
    const here = presentAt(t);
    const queuer = here.length > 0 ? (here[r.int(0, here.length - 1)] as (typeof people)[number]) : undefined;
    const song = pickSong(r, p);
    const wait = Math.max(20, r.exponential(60 + 25 * here.length));
    const queuedAt = Math.max(start + 30_000, Math.round(t - wait * 1000));
    const common = { session_id: sessionId, song, user_id: queuer?.id ?? null };
    ev.playback.push({
      ...common,
      time: queuedAt,
      time_ms: queuedAt,
      event_type: "queued",
      skip_reason: null,
      wait_time_sec: null,
      songs_played_session: null,
      songs_played_total: null,
    });
    if (r.chance(0.04)) {
      const removedAt = Math.round(queuedAt + (t - queuedAt) * r.between(0.2, 0.9));
      ev.playback.push({
        ...common,
        time: removedAt,
        time_ms: removedAt,
        event_type: "removed",
        skip_reason: null,
        wait_time_sec: null,
        songs_played_session: null,
        songs_played_total: null,
      });
      continue;
    }
    const duration = (song.duration_sec ?? 220) * 1000;
    const skipP = skipBase + (song.source === "youtube" ? 0.04 : 0);
    const skipped = r.chance(skipP);
    const reason = skipped
      ? r.weighted([
          ["user", 55],
          ["admin", 30],
          ["error", 15 * p.errorFactor],
        ] as const)
      : null;
    // The night ends when it ends: a song still playing then is cut off (its events stay inside the period).
    const stopAt = Math.min(
      end,
      Math.round(
        reason === "error"
          ? t + r.between(1, 6) * 1000
          : skipped
            ? t + duration * r.between(0.1, 0.6)
            : t + duration,
      ),
    );
    if (!skipped) playedInSession++;
    if (!skipped) counters.songsTotal++;
    ev.playback.push({
      ...common,
      time: skipped ? stopAt : t,
      time_ms: skipped ? stopAt : t,
      event_type: skipped ? "skipped" : "played",
      skip_reason: reason,
      wait_time_sec: Math.round((t - queuedAt) / 100) / 10,
      songs_played_session: playedInSession,
      songs_played_total: counters.songsTotal,
      user_id: reason === "error" ? null : reason === "admin" ? `user-${p.index}-host` : (queuer?.id ?? null),
    });
    if (reason === "error")
      ev.errors.push({ time: stopAt, type: song.source === "youtube" ? "youtube_download" : "playback" });
    ev.playing.push([t, stopAt]);
    // mpv's health while playing: mostly ok, now and then degraded, rarely dead (then it is restarted).
    for (let h = t; h < stopAt; h += HEALTH_EVERY_MS) {
      const x = r.next();
      const dead = x < 0.0015 * p.errorFactor;
      const degraded = !dead && x < 0.02 * p.errorFactor;
      const status = dead ? "dead" : degraded ? "degraded" : "ok";
      ev.health.push({
        name: "mpv_health_status",
        value: dead ? 2 : degraded ? 1 : 0,
        tags: { status },
        time_ms: h,
        time: h,
      });
      if (dead) {
        ev.restarts.push(h + 2_000);
        ev.errors.push({ time: h, type: "mpv_crash" });
      }
    }
    t = stopAt + Math.round(r.between(15, 90) * 1000);
  }
  // Background errors at each type's base rate, scaled by the version's factor.
  const hours = (end - start) / HOUR;
  for (const [type, rate] of ERROR_TYPES) {
    if (type === "mpv_crash") continue;
    const n = poisson(r, rate * hours * p.errorFactor);
    for (let i = 0; i < n; i++) ev.errors.push({ time: Math.round(r.between(start, end)), type });
  }
  ev.session.push({
    ...blankSession(sessionId, end),
    event_type: "ended",
    start_ms: start,
    duration_sec: (end - start) / 1000,
    users_joined_total: joined,
    users_peak_concurrent: peak,
    room_count: rooms,
  });
  ev.playback.sort((a, b) => a.time - b.time);
  ev.session.sort((a, b) => a.time - b.time);
  return ev;
}

function blankSession(sessionId: string, time: number): SessionEvent & Timed {
  return {
    time,
    time_ms: time,
    session_id: sessionId,
    event_type: "snapshot",
    start_ms: null,
    duration_sec: null,
    users_joined_total: null,
    users_peak_concurrent: null,
    users_by_role: {},
    room_count: null,
    user_id: null,
    user_role: null,
  };
}

const strip = <T extends Timed>({ time: _, ...rest }: T) => rest;
const between = <T extends Timed>(items: T[], from: number, to: number) =>
  items.filter((x) => x.time >= from && x.time < to);

/** Every batch one instance sends between `from` and `to` (ms), in time order. */
export function* instanceBatches(
  p: InstanceProfile,
  seed: number,
  from: number,
  to: number,
  intervalMs: number,
): Generator<MetricsBatch> {
  let seq = 0;
  const counters = { songsTotal: Math.round(p.librarySongs * 0.3) };
  for (const period of periods(p, seed, from, to)) {
    const r = createRandom(mixSeed(seed, p.index, period.start, 0x5e55));
    const sessionId = `sess-${p.index}-${period.start.toString(36)}`;
    const ev = simulatePeriod(p, r, period, sessionId, counters);
    const bootAt = period.start - Math.round(r.between(2, 30) * MINUTE);
    const daysIn = (period.start - from) / DAY;
    let restarts = 0;
    for (let w0 = period.start; w0 < period.end; w0 += intervalMs) {
      const w1 = Math.min(w0 + intervalMs, period.end);
      // The last window closes at the session's end; include items stamped exactly then.
      const until = w1 === period.end ? w1 + 1 : w1;
      if (w1 > to) return;
      seq++;
      const first = w0 === period.start;
      const presence = ev.presence.filter((x) => x.time < w1).at(-1);
      const users = presence ? Object.values(presence.byRole).reduce((a, b) => a + b, 0) : 0;
      const playingMs = ev.playing.reduce(
        (a, [s, e]) => a + Math.max(0, Math.min(e, w1) - Math.max(s, w0)),
        0,
      );
      const windowHours = (w1 - w0) / HOUR;
      restarts += ev.restarts.filter((x) => x >= w0 && x < until).length;
      const metrics: Metric[] = [
        { name: "uptime_seconds", value: Math.round((w1 - bootAt) / 1000), tags: {}, time_ms: null },
        { name: "websocket_connections_total", value: users + 1, tags: {}, time_ms: null },
        ...between(ev.health, w0, until).map(strip),
        { name: "mpv_restart_count", value: restarts, tags: {}, time_ms: null },
        {
          name: "memory_usage_mb",
          value: round1(180 + 4 * users + 0.8 * ((w1 - bootAt) / MINUTE) ** 0.7 + r.normal(0, 8)),
          tags: {},
          time_ms: null,
        },
        {
          name: "cpu_usage_percent",
          value: round1(
            clamp((playingMs / (w1 - w0)) * (40 / p.cpuCores) * 4 + 3 + r.normal(0, 2), 0.5, 100),
          ),
          tags: {},
          time_ms: null,
        },
      ];
      const wsErrors = poisson(r, 0.4 * windowHours * p.errorFactor * (1 + users / 10));
      if (wsErrors > 0) metrics.push({ name: "websocket_errors", value: wsErrors, tags: {}, time_ms: null });
      const slow = (p.platform === "windows" ? 1.25 : 1) * (p.version === "1.4.0" ? 1.3 : 1);
      for (const [operation, median] of OPERATIONS) {
        if (operation === "library_scan" && !first) continue;
        const value = median * slow * Math.exp(r.normal(0, 0.45)) * (r.chance(0.02) ? r.between(4, 12) : 1);
        metrics.push({
          name: "api_response_times_ms",
          value: round1(value),
          tags: { operation },
          time_ms: null,
        });
      }
      const errors = new Map<string, number>();
      for (const e of ev.errors)
        if (e.time >= w0 && e.time < until) errors.set(e.type, (errors.get(e.type) ?? 0) + 1);
      for (const [type, n] of [...errors].sort()) {
        metrics.push({ name: "error_count_by_type", value: n, tags: { type }, time_ms: null });
      }
      const session = between(ev.session, w0, until).map(strip);
      if (presence && w1 < period.end) {
        session.push({
          ...strip(blankSession(sessionId, w1 - 1_000)),
          start_ms: period.start,
          duration_sec: Math.round((w1 - 1_000 - period.start) / 1000),
          users_joined_total: presence.joined,
          users_peak_concurrent: presence.peak,
          users_by_role: Object.fromEntries(Object.entries(presence.byRole).filter(([, n]) => n > 0)),
          room_count: ev.session[0]?.room_count ?? 1,
        });
      }
      const library: LibrarySnapshot[] = [];
      if (first) {
        const growth = Math.round(p.libraryGrowth * daysIn);
        const total = p.librarySongs + growth;
        const scale = total / p.librarySongs;
        const scaled = (m: Record<string, number>) =>
          Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v * scale)]));
        library.push({
          time_ms: period.start + 60_000,
          total_songs: total,
          songs_by_source: scaled(p.librarySources),
          file_types: scaled(p.libraryTypes),
          total_size_gb: round1(total * 0.042),
          growth_rate: round1(p.libraryGrowth * r.between(0.8, 1.2)),
          avg_song_duration_sec: round1(p.avgDurationSec),
        });
      }
      const sentAt = w1 + Math.round(r.between(200, 4_000));
      yield {
        instance_id: p.instance_id,
        // 32 base64url characters: a fixed-format id, stored as sent (processors' shape rules hash
        // any other shape), so `sim-` still tells simulated batches apart in ClickHouse.
        batch_id: `sim-${p.hwid.slice(0, 12)}-${w1.toString(36).padStart(15, "0")}`,
        seq,
        sent_at_ms: sentAt,
        timestamp_ms: w1,
        received_at_ms: sentAt + Math.round(r.between(20, 300)),
        app_version: p.version,
        sdk_version: "0.3.0",
        privacy: { anonymize_songs: p.anonymizeSongs, anonymize_users: true, exclude_local: true },
        metrics,
        library,
        playback: between(ev.playback, w0, until).map(strip),
        session,
        environment: first
          ? {
              time_ms: bootAt,
              version: p.version,
              os_platform: p.platform,
              os_version: p.osVersion,
              go_version: p.goVersion,
              mpv_version: p.mpvVersion,
              cpu_cores: p.cpuCores,
              ram_total_gb: p.ramGb,
            }
          : null,
      };
    }
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
