import { describe, expect, it } from "vitest";
import { alignDaily } from "../../ingest/admin-stats/index.ts";
import { decodeCursor, encodeCursor, instanceListWhere } from "../../licensing/index.ts";

describe("instance list query", () => {
  it("builds one parameter per filter and compares the cursor as a row tuple (the index's order)", () => {
    const after = { registeredAt: "2026-01-02T03:04:05.123456Z", id: "00000000-0000-4000-8000-000000000001" };
    const index = (email: string) => Buffer.from(`index:${email.toLowerCase()}`);
    const { where, params } = instanceListWhere(
      { tier: "venue", banned: true, q: "Owner@Example.com" },
      after,
      index,
    );
    expect(where).toBe(
      "WHERE tier = $1 AND is_banned AND (hwid = $2 OR owner_email_index = $3) AND (registered_at, id) < ($4::timestamptz, $5::uuid)",
    );
    expect(params).toEqual([
      "venue",
      "Owner@Example.com",
      index("owner@example.com"),
      after.registeredAt,
      after.id,
    ]);
    expect(instanceListWhere({}, null, index)).toEqual({ where: "", params: [] });
    expect(instanceListWhere({ q: after.id }, null, index).where).toBe("WHERE id = $1::uuid");
  });

  it("round-trips cursors with microseconds and refuses anything else", () => {
    const p = { registeredAt: "2026-01-02T03:04:05.123456Z", id: "00000000-0000-4000-8000-000000000001" };
    expect(decodeCursor(encodeCursor(p))).toEqual(p);
    for (const bad of [
      "",
      "bm9wZQ",
      Buffer.from("x|y").toString("base64url"),
      Buffer.from(`${p.registeredAt}|${p.id}|z`).toString("base64url"),
    ]) {
      expect(() => decodeCursor(bad), bad).toThrow(/cursor/);
    }
  });
});

describe("fleet daily series", () => {
  it("puts every series on one axis of days, 0 where a day has no row, the largest versions first", () => {
    const d = alignDaily(
      [
        { t: 200, n: "3" },
        { t: 100, n: "1" },
      ],
      [{ t: 300, n: 7 }],
      [
        { t: 100, app_version: "1.0", n: 1 },
        { t: 200, app_version: "2.0", n: 2 },
        { t: 300, app_version: "2.0", n: 1 },
      ],
    );
    expect(d.days).toEqual([100, 200, 300]);
    expect(d.active).toEqual([1, 3, 0]);
    expect(d.plays).toEqual([0, 0, 7]);
    expect(d.active_by_version).toEqual([
      { app_version: "2.0", values: [0, 2, 1] },
      { app_version: "1.0", values: [1, 0, 0] },
    ]);
  });
});
