import { describe, expect, it } from "vitest";
import { mountOf } from "../../bench/fs-settle.ts";

const MOUNTINFO = [
  "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
  "30 27 0:26 / /dev/shm rw,nosuid - tmpfs tmpfs rw",
  "31 27 254:16 / /work/data rw,relatime - xfs /dev/vdb rw",
  "32 27 254:32 / /work/data\\040two rw,relatime - ext4 /dev/vdc rw",
].join("\n");

describe("mountOf", () => {
  it("finds the longest mount point a path is under", () => {
    expect(mountOf(MOUNTINFO, "/work/wt/.data/clickhouse")).toEqual({
      mountPoint: "/",
      fsType: "ext4",
      source: "/dev/vda",
    });
    expect(mountOf(MOUNTINFO, "/work/data/clickhouse")?.fsType).toBe("xfs");
    expect(mountOf(MOUNTINFO, "/work/data")?.source).toBe("/dev/vdb");
  });
  it("does not take a sibling with a common prefix for a parent, and reads escaped spaces", () => {
    expect(mountOf(MOUNTINFO, "/work/database")?.mountPoint).toBe("/");
    expect(mountOf(MOUNTINFO, "/work/data two/x")?.source).toBe("/dev/vdc");
  });
});
