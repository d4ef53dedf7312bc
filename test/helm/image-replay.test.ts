import { type ChildProcess, spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ReplayedImage, replayDockerfile } from "../../helm/tools/dockerfile.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { freePort } from "../../lib/net/index.ts";

// Item 4 of issue 16: Docker cannot run here, so the Dockerfile's own steps are replayed outside it (its
// COPY lines with .dockerignore, its RUN lines — npm ci --omit=dev — in a clean folder), and the image's
// ENTRYPOINT + CMD run from that folder against the tests' namespace of the local stack.
const config = loadConfig();
let work: string;
let image: ReplayedImage;
let app: string;
let before: Map<string, string>;
const children: ChildProcess[] = [];

/** path → size and mtime of every file under a folder, to prove a run wrote nothing there. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const s = await stat(p);
        out.set(relative(dir, p), `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  await walk(dir);
  return out;
}

// The image's ENV with its absolute paths moved under the replayed root, loopback instead of 0.0.0.0
// (nothing listens beyond loopback here), and the stack's connections as the chart's Secret gives them.
function imageEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: join(image.root, "tmp") };
  for (const [k, v] of Object.entries(image.env)) env[k] = v.startsWith("/") ? join(image.root, v) : v;
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("SMSTATS_") && env[k] === undefined) env[k] = v;
  }
  return {
    ...env,
    SMSTATS_INGEST_HOST: "127.0.0.1",
    SMSTATS_PROCESSOR_HOST: "127.0.0.1",
    SMSTATS_NATS_URL: config.nats.servers.join(","),
    SMSTATS_CLICKHOUSE_URL: config.clickhouse.url,
    SMSTATS_CLICKHOUSE_USER: config.clickhouse.username,
    SMSTATS_CLICKHOUSE_PASSWORD: config.clickhouse.password,
    SMSTATS_POSTGRES_URL: config.postgres.url,
    SMSTATS_POSTGRES_WRITE_URL: config.postgres.writeUrl ?? "",
    SMSTATS_POSTGRES_READ_URL: config.postgres.readUrl ?? "",
    SMSTATS_REDIS_URL: config.redis.url,
    SMSTATS_LOG_LEVEL: "warn",
    ...extra,
  };
}

function startImage(args: string[], extra: Record<string, string>) {
  const child = spawn(image.entrypoint[0] as string, [...image.entrypoint.slice(1), ...args], {
    cwd: app,
    env: imageEnv(extra),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, output: () => out };
}

async function waitFor(url: string, within: number, output: () => string): Promise<Response> {
  const deadline = Date.now() + within;
  for (;;) {
    const r = await fetch(url).catch(() => undefined);
    if (r?.status === 200) return r;
    if (Date.now() > deadline)
      throw new Error(`${url} not 200 within ${within} ms:\n${output().slice(-3000)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "smstats-image-"));
  image = await replayDockerfile(repoRoot, work);
  app = join(image.root, image.workdir);
  // What the chart's init container does: the shared keys and the role passwords into the data folder
  // (the stack's own, so the image's processes sign, seal and hash as the tests' do).
  const data = join(image.root, image.env.SMSTATS_DATA_DIR ?? "/data");
  for (const [from, to, pick] of [
    ["keys", "keys", () => true],
    ["secrets", "secrets", (n: string) => /^postgres_(write|read)\.txt$/.test(n)],
  ] as const) {
    await mkdir(join(data, to), { recursive: true, mode: 0o700 });
    // keys/ exists once the stack's ingest or processor has run; without it the image makes its own.
    const names = await readdir(join(config.dataDir, from)).catch(() => [] as string[]);
    for (const n of names.filter(pick)) {
      await copyFile(join(config.dataDir, from, n), join(data, to, n));
    }
  }
  await mkdir(join(image.root, "tmp"), { recursive: true });
  before = await snapshot(app);
}, 600_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  if (work) await rm(work, { recursive: true, force: true });
});

describe("container image (Dockerfile replayed outside Docker)", () => {
  it("is built from the Node release the tests run on, runs as uid 1000 and names its ports", () => {
    // The replay runs this machine's node: the image's must be the same major release (the same line of
    // Node's ABI and built-ins), and is pinned to the exact release the repository was tested with.
    for (const base of image.bases) {
      const m = /^node:(\d+)\.(\d+)\.(\d+)-bookworm-slim$/.exec(base);
      expect(m, `${base}: pin node:<x.y.z>-bookworm-slim`).not.toBeNull();
      expect(m?.[1], "the replay runs the host's node: keep the base image on its major release").toBe(
        process.versions.node.split(".")[0],
      );
    }
    expect(image.user).toBe("1000:1000");
    expect(image.exposed).toEqual([8080, 8081]);
    expect(image.entrypoint).toEqual(["node"]);
    expect(image.cmd).toEqual(["dist/server/ingest.mjs"]);
  });

  it("holds the service's source and the production dependencies only", async () => {
    const top = (await readdir(app)).sort();
    expect(top).toEqual(
      [
        "bin",
        "cli",
        "clickhouse",
        "digest",
        "dist",
        "ingest",
        "lib",
        "licensing",
        "loadtest",
        "mail",
        "node_modules",
        "package.json",
        "payments",
        "privacy",
        "processors",
        "schemas",
        "tsconfig.json",
        "web",
        "webhooks",
      ].sort(),
    );
    // Ingest and processor come bundled (the server stage).
    expect((await readdir(join(app, "dist", "server"))).sort()).toEqual(["ingest.mjs", "processor.mjs"]);
    // The console and portal come built (the web stage), without their sources.
    expect(await readdir(join(app, "web"))).toEqual(["dist"]);
    expect((await readdir(join(app, "web", "dist"))).sort()).toEqual(
      expect.arrayContaining(["admin", "portal"]),
    );
    const modules = await readdir(join(app, "node_modules"));
    expect(modules).toEqual(expect.arrayContaining(["tsx", "fastify", "@nats-io", "@clickhouse", "pg"]));
    for (const dev of ["vitest", "@biomejs", "typescript", "chdb", "fast-check", "autocannon"]) {
      expect(modules, dev).not.toContain(dev);
    }
    const ours = [...before.keys()].filter((p) => !p.startsWith("node_modules/"));
    expect(ours.filter((p) => p.endsWith(".test.ts") || p.endsWith("README.md"))).toEqual([]);
    // The migrations read their .sql files at run time.
    expect(ours).toEqual(
      expect.arrayContaining([
        "clickhouse/migrations/0001_metrics_quality.sql",
        "licensing/migrations/0001_instances_licenses.sql",
      ]),
    );
  });

  it("runs ingest by default: /health/live and /health/ready answer 200, SIGTERM exits 0", async () => {
    const port = await freePort();
    const ingest = startImage(image.cmd, {
      SMSTATS_INGEST_PORT: String(port),
      SMSTATS_INGEST_METRICS_PORT: "0",
    });
    const live = await waitFor(`http://127.0.0.1:${port}/health/live`, 90_000, ingest.output);
    expect(live.status).toBe(200);
    await waitFor(`http://127.0.0.1:${port}/health/ready`, 30_000, ingest.output);
    ingest.child.kill("SIGTERM");
    expect(await ingest.exited, ingest.output()).toBe(0);
  }, 150_000);

  it("runs the processor, the migrations and the CLI from the same image", async () => {
    // All three at once (they share nothing but the stack): the processor until ready, the other two to the end.
    const port = await freePort();
    const processor = startImage(["dist/server/processor.mjs"], { SMSTATS_PROCESSOR_PORT: String(port) });
    const migrate = startImage(["--import", "tsx", "lib/migrate/cli.ts"], { SMSTATS_LOG_LEVEL: "info" });
    const cli = startImage(["bin/smstats.mjs", "--help"], {});
    await waitFor(`http://127.0.0.1:${port}/health/live`, 90_000, processor.output);
    await waitFor(`http://127.0.0.1:${port}/health/ready`, 30_000, processor.output);
    processor.child.kill("SIGTERM");
    expect(await processor.exited, processor.output()).toBe(0);

    expect(await migrate.exited, migrate.output()).toBe(0);
    expect(migrate.output()).toContain("migrations complete");

    expect(await cli.exited).toBe(0);
    expect(cli.output()).toMatch(/^usage: smstats /);
    expect(cli.output()).toContain("smstats retention");
  }, 240_000);

  it("writes nothing inside the image's files while it runs (a read-only root is enough)", async () => {
    expect(await snapshot(app)).toEqual(before);
    // …while the data folder (a volume in the chart) and TMPDIR got what the processes wrote.
    expect((await readdir(join(image.root, "data", "keys"))).length).toBeGreaterThan(0);
  });
});
