import { describe, expect, it } from "vitest";
import {
  anonymize,
  extensionToken,
  identifierHash,
  shapeTags,
  songFileType,
  songHash,
  storedBatchId,
} from "../../processors/steps/anonymize/index.ts";
import {
  exampleBatches,
  type MetricsBatch,
  type PlaybackEvent,
  type PrivacyFlags,
  type SessionEvent,
} from "../../schemas/index.ts";

const secret = Buffer.alloc(32, 7);
const otherSecret = Buffer.alloc(32, 8);
const INSTANCE_A = "3f8e2c1a-7b4d-4e9f-a2c6-5d1b8e0f7a93";
const INSTANCE_B = "9a1d7c3e-2b5f-4c8a-b6e1-0f4d2a7c9e15";
const PATH = "/home/karaoke/Music/Karaoke/Queen - Bohemian Rhapsody.mp4";
const WIN_PATH = "C:\\Users\\dj\\Karaoke\\SC8127-04 Prince - Purple Rain.cdg";
const MOST_PRIVATE: PrivacyFlags = { anonymize_songs: true, anonymize_users: true, exclude_local: true };
const OPEN: PrivacyFlags = { anonymize_songs: false, anonymize_users: false, exclude_local: false };

function song(overrides: Partial<PlaybackEvent["song"]> = {}): PlaybackEvent["song"] {
  return {
    artist: "ABBA",
    title: "Dancing Queen",
    duration_sec: 231,
    source: "youtube",
    file_type: "webm",
    file_path: null,
    ...overrides,
  };
}

function playback(overrides: Partial<PlaybackEvent> = {}): PlaybackEvent {
  return {
    time_ms: 1_767_733_200_000,
    event_type: "played",
    session_id: "sess-1",
    song: song(),
    skip_reason: null,
    wait_time_sec: 12,
    songs_played_session: 3,
    songs_played_total: 100,
    user_id: "guest-marta-42",
    ...overrides,
  };
}

function sessionEvent(overrides: Partial<SessionEvent> = {}): SessionEvent {
  return {
    time_ms: 1_767_733_200_000,
    session_id: "sess-1",
    event_type: "user_joined",
    start_ms: null,
    duration_sec: null,
    users_joined_total: 5,
    users_peak_concurrent: 4,
    users_by_role: { guest: 4, admin: 1 },
    room_count: 1,
    user_id: "guest-marta-42",
    user_role: "guest",
    ...overrides,
  };
}

function batch(overrides: Partial<MetricsBatch> = {}): MetricsBatch {
  return {
    ...exampleBatches.everything,
    instance_id: INSTANCE_A,
    privacy: MOST_PRIVATE,
    ...overrides,
  };
}

const firstPlayback = (b: MetricsBatch, s = secret) => {
  const row = anonymize(b, { secret: s }).playback[0];
  if (!row) throw new Error("no playback row");
  return row;
};

describe("anonymize: song titles and artists", () => {
  const cases: {
    name: string;
    privacy: PrivacyFlags;
    s: PlaybackEvent["song"];
    title: string;
    artist: string;
  }[] = [
    { name: "hashes them by default", privacy: MOST_PRIVATE, s: song(), title: "", artist: "" },
    {
      name: "keeps them plain when the instance opted in (anonymize_songs false)",
      privacy: { ...MOST_PRIVATE, anonymize_songs: false },
      s: song(),
      title: "Dancing Queen",
      artist: "ABBA",
    },
    {
      name: "keeps a local song's names hidden while exclude_local is on, opt-in or not",
      privacy: { ...MOST_PRIVATE, anonymize_songs: false },
      s: song({ source: "local", file_path: PATH }),
      title: "",
      artist: "",
    },
    {
      name: "shows a local song's names when the instance opted in and allows local files",
      privacy: OPEN,
      s: song({ source: "local", file_path: PATH }),
      title: "Dancing Queen",
      artist: "ABBA",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const row = firstPlayback(batch({ privacy: c.privacy, playback: [playback({ song: c.s })] }));
      expect(row.song_title).toBe(c.title);
      expect(row.song_artist).toBe(c.artist);
      expect(row.song_hash).toBe(songHash(secret, "ABBA", "Dancing Queen"));
      expect(row.song_hash).toMatch(/^[0-9a-f]{64}$/);
    });
  }

  it("gives the same song the same hash on two instances, whatever case and spacing they use", () => {
    const a = firstPlayback(batch({ instance_id: INSTANCE_A, playback: [playback()] }));
    const b = firstPlayback(
      batch({
        instance_id: INSTANCE_B,
        privacy: OPEN,
        playback: [playback({ song: song({ artist: "  abba ", title: "DANCING   queen" }) })],
      }),
    );
    expect(a.song_hash).toBe(b.song_hash);
  });

  it("gives a different hash to a different song, and to the same words in swapped fields", () => {
    expect(songHash(secret, "ABBA", "Waterloo")).not.toBe(songHash(secret, "ABBA", "Dancing Queen"));
    expect(songHash(secret, "Waterloo", "ABBA")).not.toBe(songHash(secret, "ABBA", "Waterloo"));
  });

  it("gives '' when both artist and title are unknown, and still hashes a lone title", () => {
    const unknown = firstPlayback(
      batch({ playback: [playback({ song: song({ artist: null, title: " " }) })] }),
    );
    expect(unknown.song_hash).toBe("");
    const titled = firstPlayback(batch({ playback: [playback({ song: song({ artist: null }) })] }));
    expect(titled.song_hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("anonymize: user ids", () => {
  it("gives the same user on two instances different hashes", () => {
    const a = firstPlayback(batch({ instance_id: INSTANCE_A, playback: [playback()] }));
    const b = firstPlayback(batch({ instance_id: INSTANCE_B, playback: [playback()] }));
    expect(a.user_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.user_hash).not.toBe(b.user_hash);
  });

  it("gives a user the same hash in playback and session events of one instance", () => {
    const out = anonymize(batch({ playback: [playback()], session: [sessionEvent()] }), { secret });
    expect(out.session[0]?.user_hash).toBe(out.playback[0]?.user_hash);
  });

  it("never lets a song hash equal a user hash", () => {
    const out = anonymize(
      batch({ playback: [playback({ song: song({ artist: INSTANCE_A, title: "guest-marta-42" }) })] }),
      { secret },
    );
    expect(out.playback[0]?.song_hash).not.toBe(out.playback[0]?.user_hash);
  });

  const cases: {
    name: string;
    privacy: PrivacyFlags;
    userId: string | null;
    plain: string;
    hashed: boolean;
  }[] = [
    {
      name: "hashes them by default",
      privacy: MOST_PRIVATE,
      userId: "guest-marta-42",
      plain: "",
      hashed: true,
    },
    {
      name: "hashes them when only song names were opted in",
      privacy: { ...MOST_PRIVATE, anonymize_songs: false },
      userId: "guest-marta-42",
      plain: "",
      hashed: true,
    },
    {
      name: "still hashes them when the instance sends anonymize_users false (user ids are never stored plain)",
      privacy: { ...MOST_PRIVATE, anonymize_users: false },
      userId: "guest-marta-42",
      plain: "",
      hashed: true,
    },
    { name: "gives '' for an absent user", privacy: OPEN, userId: null, plain: "", hashed: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = anonymize(
        batch({
          privacy: c.privacy,
          playback: [playback({ user_id: c.userId })],
          session: [sessionEvent({ user_id: c.userId })],
        }),
        { secret },
      );
      for (const row of [out.playback[0], out.session[0]]) {
        expect(row).not.toHaveProperty("user_id");
        expect(row?.user_hash).toMatch(c.hashed ? /^[0-9a-f]{64}$/ : /^$/);
      }
      if (c.userId && !c.plain) expect(JSON.stringify(out)).not.toContain(c.userId);
    });
  }
});

describe("anonymize: local files", () => {
  const everyFlag: PrivacyFlags[] = [MOST_PRIVATE, OPEN, { ...OPEN, exclude_local: true }];
  for (const privacy of everyFlag) {
    it(`never outputs a file path or file name (privacy ${JSON.stringify(privacy)})`, () => {
      const out = anonymize(
        batch({
          privacy,
          playback: [
            playback({ song: song({ source: "local", file_type: "mp4", file_path: PATH }) }),
            playback({
              song: song({
                source: "local",
                artist: null,
                title: null,
                file_type: null,
                file_path: WIN_PATH,
              }),
            }),
          ],
          metrics: [
            {
              name: "error_count_by_type",
              value: 1,
              tags: { type: "decode", file: "Queen - Bohemian Rhapsody.mp4" },
              time_ms: null,
            },
            { name: "error_count_by_type", value: 1, tags: { type: "decode", where: PATH }, time_ms: null },
            {
              name: "error_count_by_type",
              value: 1,
              tags: { type: "decode", where: WIN_PATH },
              time_ms: null,
            },
          ],
          library: [
            {
              ...(exampleBatches.library.library[0] as MetricsBatch["library"][number]),
              file_types: { mp4: 3, [PATH]: 1 },
            },
          ],
        }),
        { secret },
      );
      const text = JSON.stringify(out);
      for (const needle of [
        PATH,
        WIN_PATH,
        "Queen - Bohemian Rhapsody",
        "SC8127-04",
        "karaoke/Music",
        "Users\\\\dj",
      ]) {
        expect(text).not.toContain(needle);
      }
      expect(out.playback.map((p) => p.file_type)).toEqual(["mp4", "cdg"]);
      expect(out.metrics.map((m) => m.tags)).toEqual([
        { type: "decode" },
        { type: "decode" },
        { type: "decode" },
      ]);
      expect(out.library[0]?.file_types).toEqual({ mp4: 3, other: 1 });
    });
  }

  it("removes the paths of the example batches, and every field named file_path", () => {
    const out = anonymize(batch(), { secret });
    const text = JSON.stringify(out);
    expect(text).not.toContain("file_path");
    expect(text).not.toContain("/home/karaoke");
    expect(text).not.toContain("/srv/karaoke");
  });
});

describe("file types and tags", () => {
  const fileTypes: [string | null, string | null, string][] = [
    ["mp4", null, "mp4"],
    [".MKV", null, "mkv"],
    [null, "/music/song.CDG", "cdg"],
    [null, "C:\\music\\song.mp3", "mp3"],
    [null, "/music/.hidden", ""],
    [null, "/music/no-extension", ""],
    [null, "/music.d/no-extension", ""],
    ["/home/dj/song.mp4", null, ""],
    ["superlongext", null, ""],
    [null, null, ""],
  ];
  for (const [fileType, filePath, want] of fileTypes) {
    it(`stores file type ${JSON.stringify(want)} for file_type ${JSON.stringify(fileType)} and path ${JSON.stringify(filePath)}`, () =>
      expect(songFileType(fileType, filePath)).toBe(want));
  }

  it("accepts only short lowercase letter-and-digit extension tokens", () => {
    expect([
      extensionToken("mp4"),
      extensionToken("MP3"),
      extensionToken("m p4"),
      extensionToken("tar.gz"),
    ]).toEqual(["mp4", "mp3", "", ""]);
  });

  it("drops path-named keys and absolute-path values, and keeps ordinary tags", () => {
    expect(
      shapeTags(
        "api_response_times_ms",
        {
          operation: "queue_add",
          status: "ok",
          path: "relative/thing",
          FileName: "x.mp4",
          file_path: "x",
          a: "/etc/passwd",
          b: "~/Music/x.mp4",
          c: "D:/Karaoke/x.mp4",
          d: "\\\\nas\\karaoke\\x.mp4",
          e: "file:///home/x.mp4",
        },
        () => {},
      ),
    ).toEqual({ operation: "queue_add", status: "ok" });
  });
});

describe("anonymize: the secret and the rest of the batch", () => {
  it("changes every hash when the secret changes", () => {
    const b = batch({ playback: [playback()], session: [sessionEvent()] });
    const one = anonymize(b, { secret });
    const two = anonymize(b, { secret: otherSecret });
    expect(two.playback[0]?.song_hash).not.toBe(one.playback[0]?.song_hash);
    expect(two.playback[0]?.user_hash).not.toBe(one.playback[0]?.user_hash);
    expect(two.session[0]?.user_hash).not.toBe(one.session[0]?.user_hash);
  });

  it("is deterministic and does not change its input", () => {
    const b = batch();
    const before = structuredClone(b);
    expect(anonymize(b, { secret })).toEqual(anonymize(structuredClone(b), { secret }));
    expect(b).toEqual(before);
  });

  it("keeps the envelope, the privacy flags and fields an earlier step added", () => {
    const enriched = { ...batch(), tier: "pro", platform: "linux", appVersion: "1.4.2", country: "DE" };
    const out = anonymize(enriched, { secret });
    expect(out).toMatchObject({
      instance_id: INSTANCE_A,
      batch_id: storedBatchId(secret, INSTANCE_A, enriched.batch_id),
      privacy: MOST_PRIVATE,
      tier: "pro",
      country: "DE",
      environment: enriched.environment,
    });
    expect(out.playback).toHaveLength(enriched.playback.length);
    expect(out.session).toHaveLength(enriched.session.length);
  });

  it("keeps the non-personal fields of playback and session events", () => {
    const out = anonymize(batch({ playback: [playback()], session: [sessionEvent()] }), { secret });
    expect(out.playback[0]).toMatchObject({
      event_type: "played",
      session_id: identifierHash(secret, "playback.session_id", INSTANCE_A, "sess-1"),
      wait_time_sec: 12,
      song_source: "youtube",
      song_duration_sec: 231,
      file_type: "webm",
    });
    expect(out.session[0]).toMatchObject({
      event_type: "user_joined",
      user_role: "guest",
      users_by_role: { guest: 4, admin: 1 },
    });
  });
});

describe("anonymize: addresses in tags", () => {
  it.each([
    ["an IPv4 value", { peer: "198.51.100.23" }, {}],
    ["an IPv4 with a port inside text", { note: "from 198.51.100.23:8080 at start" }, {}],
    ["an IPv6 value", { peer: "2001:db8::17" }, {}],
    ["a key named ip", { ip: "unknown" }, {}],
    ["an address in an allowed key", { operation: "198.51.100.23" }, { operation: "other" }],
    ["an ordinary allowed tag, which is kept", { operation: "search" }, { operation: "search" }],
  ])("drops %s", (_name, tags, expected) => {
    expect(shapeTags("api_response_times_ms", tags as Record<string, string>, () => {})).toEqual(expected);
  });
});
