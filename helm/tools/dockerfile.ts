import { execFile } from "node:child_process";
import { cp, mkdir, readdir, readFile, stat } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** One instruction of a Dockerfile, continuation lines joined. */
export interface Instruction {
  op: string;
  flags: Record<string, string>;
  args: string;
  line: number;
}

/** A build stage: FROM <image> AS <name> and what follows it. */
export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** A Dockerfile this replay cannot follow faithfully. */
export class DockerfileReplayError extends Error {
  override readonly name = "DockerfileReplayError";
  readonly code = "DOCKERFILE_UNSUPPORTED";
}

const FLAG = /^--([a-z-]+)(?:=(\S*))?\s+/;

/** Parses a Dockerfile into stages (comments dropped, `\` continuations joined, ARG defaults applied to FROM). */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const args: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] ?? "";
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      i++;
      const next = lines[i] ?? "";
      if (/^\s*#/.test(next)) continue;
      line = `${line.slice(0, -1)} ${next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new DockerfileReplayError(`line ${start + 1}: cannot read "${line}"`);
    const op = (m[1] as string).toUpperCase();
    let rest = (m[2] as string).trim();
    const flags: Record<string, string> = {};
    for (let f = FLAG.exec(rest); f; f = FLAG.exec(rest)) {
      flags[f[1] as string] = f[2] ?? "";
      rest = rest.slice(f[0].length);
    }
    if (op === "ARG") {
      const [k, v = ""] = rest.split("=");
      args[k as string] = v;
    } else if (op === "FROM") {
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!fm) throw new DockerfileReplayError(`line ${start + 1}: cannot read FROM ${rest}`);
      const from = (fm[1] as string).replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? "");
      stages.push({ name: fm[2] ?? String(stages.length), from, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new DockerfileReplayError(`line ${start + 1}: ${op} before FROM`);
      stage.instructions.push({ op, flags, args: rest, line: start + 1 });
    }
  }
  return stages;
}

/** KEY=value pairs of an ENV instruction (values without spaces or quotes, as this project writes them). */
export function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of args.split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0 || /["']/.test(pair)) throw new DockerfileReplayError(`ENV ${args}: use KEY=value pairs`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

function globRegex(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (glob.startsWith("**/", i)) {
      re += "(?:.*/)?";
      i += 2;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  // A pattern matches a path or anything beneath it.
  return new RegExp(`^${re}(?:/.*)?$`);
}

/** A predicate "is this context path (relative, posix) excluded by .dockerignore?". */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const neg = patterns.find((p) => p.startsWith("!"));
  if (neg) throw new DockerfileReplayError(`.dockerignore: exceptions (${neg}) are not replayed`);
  const res = patterns.map((p) => globRegex(posix.normalize(p.replace(/^\/+/, "").replace(/\/+$/, ""))));
  return (path) => res.some((r) => r.test(path));
}

async function copyContext(
  context: string,
  rel: string,
  to: string,
  ignored: (path: string) => boolean,
): Promise<void> {
  if (ignored(rel)) return;
  const from = join(context, rel);
  if ((await stat(from)).isDirectory()) {
    await mkdir(to, { recursive: true });
    for (const name of await readdir(from)) {
      await copyContext(context, posix.join(rel, name), join(to, name), ignored);
    }
  } else {
    await cp(from, to);
  }
}

/** The image a replay produced: its filesystem root on disk and how it runs. */
export interface ReplayedImage {
  /** Root of the final stage's filesystem. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  entrypoint: string[];
  cmd: string[];
  exposed: number[];
  /** Base image of every stage. */
  bases: string[];
}

// RUN lines are replayed in the stage's working folder; one that names an absolute path would act on
// this machine, not on the stage, so it is refused rather than run.
function checkRelative(cmd: string, line: number): void {
  if (/(^|[\s'"=:;&|(])\/(?!\/)/.test(cmd))
    throw new DockerfileReplayError(
      `line ${line}: RUN names an absolute path, which a replay cannot confine`,
    );
}

/**
 * Builds a Dockerfile's stages outside Docker: every stage gets a folder under `into`, COPY copies from the
 * context (honouring .dockerignore) or from an earlier stage's folder, RUN runs with `sh -c` in the stage's
 * WORKDIR (cache mounts dropped: npm uses this machine's cache), and the last stage's ENV, USER,
 * ENTRYPOINT and CMD are returned. Ownership (--chown) and the base image's own files are not replayed.
 */
export async function replayDockerfile(context: string, into: string): Promise<ReplayedImage> {
  const stages = parseDockerfile(await readFile(join(context, "Dockerfile"), "utf8"));
  const ignored = dockerignore(await readFile(join(context, ".dockerignore"), "utf8").catch(() => ""));
  const roots = new Map<string, string>();
  let image: ReplayedImage | undefined;
  for (const stage of stages) {
    const root = join(into, stage.name);
    roots.set(stage.name, root);
    await mkdir(root, { recursive: true });
    const img: ReplayedImage = {
      root,
      workdir: "/",
      env: {},
      user: undefined,
      entrypoint: [],
      cmd: [],
      exposed: [],
      bases: [...(image?.bases ?? []), stage.from],
    };
    for (const ins of stage.instructions) await replayInstruction(ins, img, roots, context, ignored);
    image = img;
  }
  if (!image) throw new DockerfileReplayError("Dockerfile has no stage");
  return image;
}

async function replayInstruction(
  ins: Instruction,
  img: ReplayedImage,
  roots: Map<string, string>,
  context: string,
  ignored: (path: string) => boolean,
): Promise<void> {
  const at = (p: string) => join(img.root, posix.resolve(img.workdir, p));
  switch (ins.op) {
    case "WORKDIR":
      img.workdir = posix.resolve(img.workdir, ins.args);
      await mkdir(at("."), { recursive: true });
      return;
    case "ENV":
      Object.assign(img.env, parseEnv(ins.args));
      return;
    case "USER":
      img.user = ins.args;
      return;
    case "EXPOSE":
      img.exposed.push(...ins.args.split(/\s+/).map((p) => Number.parseInt(p, 10)));
      return;
    case "ENTRYPOINT":
    case "CMD": {
      const list = JSON.parse(ins.args) as string[];
      if (ins.op === "ENTRYPOINT") img.entrypoint = list;
      else img.cmd = list;
      return;
    }
    case "LABEL":
    case "VOLUME":
      return;
    case "RUN": {
      checkRelative(ins.args, ins.line);
      await run("sh", ["-ec", ins.args], { cwd: at("."), maxBuffer: 64 * 1024 * 1024 });
      return;
    }
    case "COPY": {
      const parts = ins.args.split(/\s+/);
      const dest = parts.pop() as string;
      const from = ins.flags.from;
      for (const src of parts) {
        const target = dest.endsWith("/") ? join(at(dest), basename(src)) : at(dest);
        if (from !== undefined) {
          const root = roots.get(from);
          if (!root) throw new DockerfileReplayError(`line ${ins.line}: no stage ${from}`);
          await cp(join(root, src), target, { recursive: true });
        } else {
          // As `docker build`: a source the context leaves out is an error, not an empty copy.
          if (ignored(posix.normalize(src)))
            throw new DockerfileReplayError(`line ${ins.line}: COPY ${src} is excluded by .dockerignore`);
          await copyContext(context, posix.normalize(src), target, ignored);
        }
      }
      return;
    }
    default:
      throw new DockerfileReplayError(`line ${ins.line}: ${ins.op} is not replayed`);
  }
}
