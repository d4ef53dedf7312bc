import { describe, expect, it } from "vitest";
import { locateBinary, pickPostgresBinDir, sortVersionsDescending } from "../../stack/binaries.ts";
import { aptInstallArgs, type InstallTarget, planInstall } from "../../stack/install.ts";
import { stackPorts } from "../../stack/ports.ts";
import { firstUntraversable, type SystemUser } from "../../stack/services/system-user.ts";

const targets: InstallTarget[] = [
  { name: "nats", binaries: ["nats-server"], packages: ["nats-server"] },
  {
    name: "clickhouse",
    binaries: ["clickhouse-server", "clickhouse-client"],
    packages: ["clickhouse-server", "clickhouse-client"],
  },
  { name: "postgres", binaries: ["initdb", "postgres"], packages: ["postgresql"] },
  { name: "redis", binaries: ["redis-server"], packages: ["redis-server"] },
];

function locateAllBut(...absent: string[]) {
  return (_target: InstallTarget, binary: string) =>
    absent.includes(binary) ? undefined : `/usr/bin/${binary}`;
}

describe("planInstall", () => {
  it("plans nothing when every binary is found", () => {
    expect(planInstall(targets, locateAllBut())).toEqual({ missing: [], packages: [] });
  });

  it("installs both ClickHouse packages when only the client is missing", () => {
    expect(planInstall(targets, locateAllBut("clickhouse-client"))).toEqual({
      missing: ["clickhouse/clickhouse-client"],
      packages: ["clickhouse-server", "clickhouse-client"],
    });
  });

  it("lists every missing binary and each package once, in service order", () => {
    const plan = planInstall(targets, locateAllBut("redis-server", "initdb", "postgres", "nats-server"));
    expect(plan.missing).toEqual([
      "nats/nats-server",
      "postgres/initdb",
      "postgres/postgres",
      "redis/redis-server",
    ]);
    expect(plan.packages).toEqual(["nats-server", "postgresql", "redis-server"]);
  });

  it("builds a non-interactive apt-get install without recommended packages", () => {
    expect(aptInstallArgs(["redis-server"])).toEqual([
      "install",
      "-y",
      "--no-install-recommends",
      "redis-server",
    ]);
  });
});

describe("PostgreSQL binary folder", () => {
  it("orders versions numerically, not as text", () => {
    expect(sortVersionsDescending(["9.6", "15", "16", "README", "10"])).toEqual(["16", "15", "10", "9.6"]);
  });

  it("picks the highest version that has the server, skipping a client-only folder", () => {
    const installed = new Set([
      "/pg/15/bin/postgres",
      "/pg/15/bin/initdb",
      "/pg/13/bin/postgres",
      "/pg/13/bin/initdb",
    ]);
    expect(pickPostgresBinDir(["13", "15", "16"], (path) => installed.has(path), "/pg")).toBe("/pg/15/bin");
  });

  it("picks nothing when no version has the server", () => {
    expect(pickPostgresBinDir(["16"], () => false, "/pg")).toBeUndefined();
  });

  it("prefers the service's own folder over PATH, and finds sbin binaries missing from PATH", () => {
    const exists = new Set(["/pg/15/bin/initdb", "/usr/bin/initdb", "/usr/sbin/nats-server"]);
    const isExecutable = (path: string) => exists.has(path);
    expect(locateBinary("initdb", ["/pg/15/bin"], ["/usr/bin"], isExecutable)).toBe("/pg/15/bin/initdb");
    expect(locateBinary("initdb", [], ["/usr/bin"], isExecutable)).toBe("/usr/bin/initdb");
    expect(locateBinary("nats-server", [], ["/usr/bin"], isExecutable)).toBe("/usr/sbin/nats-server");
    expect(locateBinary("redis-server", [], ["/usr/bin"], isExecutable)).toBeUndefined();
  });
});

describe("stackPorts", () => {
  it("maps the default base to the project's fixed ports", () => {
    expect(stackPorts()).toEqual({
      natsClient: 27422,
      natsMonitor: 27822,
      clickhouseHttp: 27123,
      clickhouseNative: 27900,
      postgres: 27432,
      redis: 27379,
    });
  });

  it("shifts every port with the base", () => {
    expect(stackPorts(28000).postgres).toBe(28432);
  });

  it("rejects a base that would leave the port range", () => {
    expect(() => stackPorts(65000)).toThrow(/port base/);
  });
});

describe("firstUntraversable", () => {
  const postgres: SystemUser = { name: "postgres", uid: 101, gid: 104, groups: [104, 103] };
  const folder = (path: string, uid: number, gid: number, mode: number) => ({ path, uid, gid, mode });

  it("accepts folders others may enter", () => {
    expect(
      firstUntraversable([folder("/", 0, 0, 0o755), folder("/work", 0, 0, 0o711)], postgres),
    ).toBeUndefined();
  });

  it("names the first folder closed to others", () => {
    expect(firstUntraversable([folder("/", 0, 0, 0o755), folder("/root", 0, 0, 0o700)], postgres)).toBe(
      "/root",
    );
  });

  it("uses the group bits for a folder of one of the user's groups", () => {
    expect(firstUntraversable([folder("/srv", 0, 103, 0o750)], postgres)).toBeUndefined();
    expect(firstUntraversable([folder("/srv", 0, 103, 0o705)], postgres)).toBe("/srv");
  });
});
