import { describe, expect, it } from "vitest";
import { clusterLocation, FALLBACK_ROOT } from "../../stack/services/postgres.ts";

// Where the stack keeps PostgreSQL's files: a root user's clone in /root (mode 700) cannot host them, since
// the server runs as `postgres`; they go under /var/lib instead, recorded in the data folder.
describe("PostgreSQL cluster location", () => {
  const home = "/root/songmartyn-stats/.data/postgres";
  it("stays in the data folder when the server's user can reach it", () => {
    expect(clusterLocation({ home, recorded: undefined, reachable: true })).toEqual({
      dir: home,
      record: false,
    });
  });
  it("moves under /var/lib, one folder per data folder, and records it, when it cannot", () => {
    const a = clusterLocation({ home, recorded: undefined, reachable: false });
    const b = clusterLocation({ home: "/root/other/.data/postgres", recorded: undefined, reachable: false });
    expect(a.record).toBe(true);
    expect(a.dir.startsWith(`${FALLBACK_ROOT}/`)).toBe(true);
    expect(a.dir.endsWith("/postgres")).toBe(true);
    expect(a.dir).not.toBe(b.dir);
    expect(clusterLocation({ home, recorded: undefined, reachable: false }).dir).toBe(a.dir);
  });
  it("follows the recorded place once there is one", () => {
    expect(clusterLocation({ home, recorded: "/var/lib/x/postgres", reachable: true })).toEqual({
      dir: "/var/lib/x/postgres",
      record: false,
    });
  });
});
