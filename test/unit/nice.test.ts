import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../lib/config/index.ts";

// In a child process: lowering a priority cannot be undone without privileges, and the test runner's own
// threads must keep theirs.
const run = promisify(execFile);
const CHILD = `
import { readdirSync, readFileSync } from "node:fs";
import { lowerPriority } from "./processors/nice.ts";
// Field 19 of a thread's stat is its niceness (after the command in parentheses, which may hold spaces).
const niceOf = (tid) => Number(readFileSync("/proc/self/task/" + tid + "/stat", "utf8").split(") ")[1].split(" ")[16]);
const tids = () => readdirSync("/proc/self/task");
const before = tids().map(niceOf);
const changed = lowerPriority(Number(process.argv[1]));
await new Promise((r) => setTimeout(r, 20));
console.log(JSON.stringify({ before, changed, after: tids().map(niceOf), threads: tids().length }));
`;

async function inChild(nice: number) {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", CHILD, String(nice)],
    {
      cwd: repoRoot,
    },
  );
  return JSON.parse(stdout) as { before: number[]; changed: number; after: number[]; threads: number };
}

describe("lowerPriority", () => {
  it("sets every thread of the process to the niceness, not only the calling one", async () => {
    const r = await inChild(7);
    expect(r.threads).toBeGreaterThan(1);
    expect(r.changed).toBeGreaterThanOrEqual(r.before.length);
    expect(r.after).toEqual(new Array(r.after.length).fill(7));
  });

  it("changes nothing at 0", async () => {
    const r = await inChild(0);
    expect(r.changed).toBe(0);
    expect(r.after).toEqual(r.before.slice(0, r.after.length));
  });
});
