import { describe, expect, it } from "vitest";
import {
  identifierHash,
  ROLES,
  type ShapeReason,
  scrubText,
  shapeCounts,
  shapeEnum,
  shapeIdentifier,
  shapeMetricName,
  shapeOsVersion,
  shapeTags,
  shapeVersion,
} from "../../processors/steps/anonymize/index.ts";

const secret = Buffer.alloc(32, 3);
const INSTANCE = "3f8e2c1a-7b4d-4e9f-a2c6-5d1b8e0f7a93";

/** A report that remembers what it was told. */
function recorder() {
  const seen: string[] = [];
  return { seen, report: (field: string, reason: ShapeReason) => seen.push(`${field}:${reason}`) };
}

describe("shapeVersion", () => {
  it.each(["1.4.2", "v1.4", "go1.22.4", "0.37.0", "0.37.0-rc.1", "1.4.2+abc1234", "2", ""])(
    "keeps %j",
    (v) => {
      const r = recorder();
      expect(shapeVersion("version", v, r.report)).toBe(v);
      expect(r.seen).toEqual([]);
    },
  );
  it.each([
    "203.0.113.9",
    "1.2.3-user-bob",
    "Hostile Title 1",
    "/home/bob/1.0",
    "bob@example.org",
    "2001:db8::1",
    "1.0 beta",
  ])("replaces %j by '' and reports it", (v) => {
    const r = recorder();
    expect(shapeVersion("version", v, r.report)).toBe("");
    expect(r.seen).toEqual(["version:not_a_version"]);
  });
});

describe("shapeOsVersion", () => {
  it.each([
    "Windows 11 Pro 23H2 22631.4460",
    "macOS 14.7.1 (23H222)",
    "Ubuntu 22.04.4 LTS",
    "Debian GNU/Linux 12 (bookworm) 6.1.0-28-amd64",
    "6.1.0-18-amd64",
  ])("keeps %j", (v) => {
    expect(shapeOsVersion("os", v, recorder().report)).toBe(v);
  });
  it.each(["Secret Song 1", "user42", "10.0.0.1", "C:\\Users\\bob", "Windows 11 bob@example.org"])(
    "drops %j",
    (v) => {
      const r = recorder();
      expect(shapeOsVersion("os", v, r.report)).toBe("");
      expect(r.seen).toEqual(["os:not_a_version"]);
    },
  );
});

describe("shapeIdentifier", () => {
  it.each(["0b9f8a62-1c44-4f1a-9a43-7c2f0e6f4d11", "AbCdEfGhIjKlMnOpQrStUv", "A".repeat(32), ""])(
    "keeps the fixed format %j",
    (v) => {
      expect(shapeIdentifier("batch_id", secret, INSTANCE, v, recorder().report)).toBe(v);
    },
  );
  it("hashes anything else with the instance as salt, the same every time", () => {
    const r = recorder();
    const a = shapeIdentifier("session_id", secret, INSTANCE, "203.0.113.9", r.report);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(a).toBe(identifierHash(secret, "session_id", INSTANCE, "203.0.113.9"));
    expect(shapeIdentifier("session_id", secret, "other", "203.0.113.9", r.report)).not.toBe(a);
    expect(r.seen).toEqual(["session_id:hashed", "session_id:hashed"]);
  });
});

describe("enums and counts", () => {
  it("keeps a known value lowercased and trimmed, and files anything else under other", () => {
    const r = recorder();
    expect(shapeEnum("role", " Guest ", ROLES, r.report)).toBe("guest");
    expect(shapeEnum("role", "bob@example.org", ROLES, r.report)).toBe("other");
    expect(r.seen).toEqual(["role:not_in_enum"]);
  });
  it("adds the counts of unknown keys to other, so totals still add up", () => {
    const r = recorder();
    expect(shapeCounts("role", { guest: 4, "user 17": 2, "10.0.0.1": 1, admin: 1 }, ROLES, r.report)).toEqual(
      {
        guest: 4,
        other: 3,
        admin: 1,
      },
    );
    expect(r.seen).toHaveLength(2);
  });
});

describe("shapeTags", () => {
  it("keeps allowed keys with values of their shape and returns the same object when nothing changed", () => {
    const tags = { operation: "search", status: "ok", samples: "3" };
    expect(shapeTags("api_response_times_ms", tags, recorder().report)).toBe(tags);
  });
  it("drops keys not allowed for the metric, files unknown enum values under other, drops bad counts", () => {
    const r = recorder();
    const out = shapeTags(
      "error_count_by_type",
      { type: "/home/bob/x.db", peer: "203.0.113.9", note: "hi", samples: "many", valueOf: "x" },
      r.report,
    );
    expect(out).toEqual({ type: "other" });
    expect(r.seen.sort()).toEqual([
      "metrics.tags.samples:tag_value_not_allowed",
      "metrics.tags.type:not_in_enum",
      "metrics.tags:tag_key_not_allowed",
      "metrics.tags:tag_key_not_allowed",
      "metrics.tags:tag_key_not_allowed",
    ]);
  });
  it("allows a metric's own keys only on that metric", () => {
    expect(shapeTags("uptime_seconds", { operation: "search" }, recorder().report)).toEqual({});
  });
});

describe("shapeMetricName", () => {
  it("keeps catalogued and family-table names and hashes the rest the same on every instance", () => {
    const r = recorder();
    expect(shapeMetricName(secret, "error_count_by_type", r.report)).toBe("error_count_by_type");
    expect(shapeMetricName(secret, "songs_played_total", r.report)).toBe("songs_played_total");
    const custom = shapeMetricName(secret, "hostile_user_42", r.report);
    expect(custom).toMatch(/^custom_[0-9a-f]{16}$/);
    expect(shapeMetricName(secret, "hostile_user_42", r.report)).toBe(custom);
    expect(shapeMetricName(secret, custom, r.report)).toBe(custom);
    expect(r.seen).toEqual(["metrics.name:hashed", "metrics.name:hashed"]);
  });
});

describe("scrubText (Sentry's default scrubbing)", () => {
  it.each([
    ["Bohemian Rhapsody", "Bohemian Rhapsody"],
    ["mail bob@example.com now", "mail [email] now"],
    ["C:\\Users\\Bob Smith\\Music\\song.mp4", "[path]"],
    ["/home/venue/My Folder/x.mp4", "[path]"],
    ["see ../music/a.mp3 ok", "see [path] ok"],
    ["from 198.51.100.7:8080", "from [ip]"],
    ["ip 2001:db8::1 here", "ip [ip] here"],
    ["at 12:30:45", "at 12:30:45"],
    ["my api_key is x", "[Filtered]"],
  ])("%j becomes %j", (input, output) => {
    const r = recorder();
    expect(scrubText("title", input, r.report)).toBe(output);
    expect(r.seen).toEqual(input === output ? [] : ["title:scrubbed"]);
  });
});
