import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../../lib/config/index.ts";

const run = promisify(execFile);

/** The helm release the chart checks use; bump it here only. */
export const HELM_VERSION = "v3.22.0";
/** The kubeconform release that validates rendered manifests. */
export const KUBECONFORM_VERSION = "v0.8.0";
/** The PyPI package whose bundled Kubernetes JSON schemas kubeconform reads, pinned by hash. */
export const KUBERNETES_VALIDATE = {
  version: "1.37.0",
  sha256: "85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9",
} as const;
/** Kubernetes versions every rendered manifest is validated against (oldest supported and newest shipped). */
export const KUBERNETES_VERSIONS = ["1.29.0", "1.37.0"] as const;

/** The project's tools folder (ignored by git). */
export const TOOLS_DIR = join(repoRoot, ".tools");
const TOOLS_BIN = join(TOOLS_DIR, "bin");
/** Where the pinned helm lives. */
export const HELM_PATH = join(TOOLS_BIN, "helm");
/** Where the pinned kubeconform lives. */
export const KUBECONFORM_PATH = join(TOOLS_BIN, "kubeconform");
/** Folder of kubeconform-ready schemas: <dir>/v<version>-strict/<kind>-<group>-<version>.json. */
export const SCHEMA_DIR = join(TOOLS_DIR, "kubernetes-schemas", KUBERNETES_VALIDATE.version);

/** A tool could not be installed; the message says what to install or what failed. */
export class ToolInstallError extends Error {
  override readonly name = "ToolInstallError";
  readonly code = "TOOL_INSTALL_FAILED";
}

// The module version Go recorded in a binary it built (`go version -m`): helm and kubeconform built with
// `go install` print "development" or "+unreleased" for their own version flags.
async function builtVersion(path: string, module: string): Promise<string | undefined> {
  if (!existsSync(path)) return undefined;
  const { stdout } = await run("go", ["version", "-m", path]).catch(() => ({ stdout: "" }));
  const line = stdout.split("\n").find((l) => l.trim().startsWith(`mod\t${module}\t`));
  return line?.trim().split("\t")[2];
}

async function goInstall(pkg: string, version: string, log: (line: string) => void): Promise<void> {
  log(`building ${pkg}@${version} with go install into ${TOOLS_BIN} (first time only; Go caches the build)`);
  try {
    await run("go", ["install", `${pkg}@${version}`], {
      cwd: repoRoot,
      env: { ...process.env, GOBIN: TOOLS_BIN, GOFLAGS: "-mod=mod" },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT")
      throw new ToolInstallError("helm and kubeconform are built with Go: install Go ≥ 1.24 and retry");
    throw new ToolInstallError(`go install ${pkg}@${version} failed: ${e.stderr ?? e.message}`, {
      cause: err,
    });
  }
}

// Builds a Go tool when it is missing or reports another version, then checks the built one.
async function ensureGoTool(
  path: string,
  pkg: string,
  version: string,
  versionOf: () => Promise<string | undefined>,
  log: (line: string) => void,
): Promise<string> {
  if ((await versionOf()) === version) return path;
  await goInstall(pkg, version, log);
  const built = await versionOf();
  if (built !== version)
    throw new ToolInstallError(`built ${path} reports ${built ?? "nothing"}, expected ${version}`);
  return path;
}

/** The pinned helm, built with `go install helm.sh/helm/v3/cmd/helm@HELM_VERSION` when missing. */
export function ensureHelm(log: (line: string) => void = () => {}): Promise<string> {
  return ensureGoTool(
    HELM_PATH,
    "helm.sh/helm/v3/cmd/helm",
    HELM_VERSION,
    () => builtVersion(HELM_PATH, "helm.sh/helm/v3"),
    log,
  );
}

/** The pinned kubeconform, built with `go install` when missing. */
export function ensureKubeconform(log: (line: string) => void = () => {}): Promise<string> {
  return ensureGoTool(
    KUBECONFORM_PATH,
    "github.com/yannh/kubeconform/cmd/kubeconform",
    KUBECONFORM_VERSION,
    () => builtVersion(KUBECONFORM_PATH, "github.com/yannh/kubeconform"),
    log,
  );
}

/**
 * kubernetes-validate's schemas name their shared definitions by an absolute URL it resolves itself
 * ($id https://kubernetes.io/api/…, $ref /api/_definitions.json#…). kubeconform reads plain files, so the
 * copy drops $id and points each $ref at the _definitions.json beside it; nothing else changes.
 */
export function localSchemaText(text: string): string {
  const doc = JSON.parse(text.replaceAll('"/api/_definitions.json#', '"_definitions.json#')) as Record<
    string,
    unknown
  >;
  delete doc.$id;
  return JSON.stringify(doc);
}

/**
 * The strict Kubernetes JSON schemas of KUBERNETES_VERSIONS, from the PyPI package kubernetes-validate
 * (installed with pip by hash into .tools, once), rewritten for kubeconform into SCHEMA_DIR.
 */
export async function ensureKubernetesSchemas(log: (line: string) => void = () => {}): Promise<string> {
  const done = join(SCHEMA_DIR, ".complete");
  if (existsSync(done)) return SCHEMA_DIR;
  const pkgDir = join(TOOLS_DIR, "pip", `kubernetes-validate-${KUBERNETES_VALIDATE.version}`);
  const shipped = join(pkgDir, "kubernetes_validate", "kubernetes-json-schema");
  if (!existsSync(shipped)) {
    log(`installing kubernetes-validate ${KUBERNETES_VALIDATE.version} with pip into ${pkgDir}`);
    await mkdir(TOOLS_DIR, { recursive: true });
    const requirements = join(TOOLS_DIR, "kubernetes-validate.requirements.txt");
    await writeFile(
      requirements,
      `kubernetes-validate==${KUBERNETES_VALIDATE.version} --hash=sha256:${KUBERNETES_VALIDATE.sha256}\n`,
    );
    await rm(pkgDir, { recursive: true, force: true });
    try {
      await run(
        "python3",
        [
          ...["-m", "pip", "install", "--no-deps", "--require-hashes", "--only-binary=:all:"],
          ...["--disable-pip-version-check", "--no-input", "-q", "--target", pkgDir, "-r", requirements],
        ],
        { maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      throw new ToolInstallError(
        `pip install kubernetes-validate failed (needs python3 with pip: apt-get install python3-pip): ${e.stderr ?? e.message}`,
        { cause: err },
      );
    }
  }
  const staging = `${SCHEMA_DIR}.partial`;
  await rm(staging, { recursive: true, force: true });
  for (const k8s of KUBERNETES_VERSIONS) {
    const from = join(shipped, `v${k8s}-local-strict`);
    const to = join(staging, `v${k8s}-strict`);
    await mkdir(to, { recursive: true });
    for (const name of (await readdir(from)).filter((n) => n.endsWith(".json"))) {
      await writeFile(join(to, name), localSchemaText(await readFile(join(from, name), "utf8")));
    }
  }
  await writeFile(join(staging, ".complete"), `${KUBERNETES_VALIDATE.version}\n`);
  await rm(SCHEMA_DIR, { recursive: true, force: true });
  await rename(staging, SCHEMA_DIR);
  return SCHEMA_DIR;
}

/** All three chart tools, installed when missing. */
export async function ensureChartTools(log: (line: string) => void = () => {}): Promise<{
  helm: string;
  kubeconform: string;
  schemas: string;
}> {
  // One go install at a time: two parallel builds on a small machine are slower than one after the other.
  const helm = await ensureHelm(log);
  const kubeconform = await ensureKubeconform(log);
  const schemas = await ensureKubernetesSchemas(log);
  return { helm, kubeconform, schemas };
}
