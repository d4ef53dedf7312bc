import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { CHART_DIR, chartFiles } from "../../helm/tools/chart-files.ts";
import { ensureChartTools, KUBERNETES_VERSIONS } from "../../helm/tools/install.ts";
import { type K8sObject, podSpecOf, workloadProblems } from "../../helm/tools/workloads.ts";
import { parseEnv } from "../../lib/config/env.ts";
import { repoRoot } from "../../lib/config/index.ts";

// Item 6 of issue 16: the chart rendered and checked by real tools — pinned helm (lint --strict, template),
// kubeconform against kubernetes-validate's strict schemas (offline), nats-server -t on the rendered NATS
// configuration — with the default values and the clustered values file. The tools are built once into
// .tools (minutes the first time on a fresh clone; Go's build cache keeps later builds fast).
const exec = promisify(execFile);
const CLUSTER_VALUES = join(CHART_DIR, "ci", "cluster-values.yaml");
/** Every values file the checks render: the defaults, the clustered file, and helm/README.md's fleet sizes. */
const VALUES: Record<string, string[]> = {
  default: [],
  cluster: ["-f", CLUSTER_VALUES],
  "external NATS": [
    ...["--set", "nats.enabled=false", "--set", "nats.external.urls=nats://nats-a:4222\\,nats://nats-b:4222"],
    ...["--set", "networkPolicy.extraEgress[0].to[0].namespaceSelector.matchLabels.name=databases"],
  ],
  ...Object.fromEntries(
    ["small", "medium", "large"].map((size) => [
      size,
      ["-f", join(repoRoot, "helm", "examples", `${size}.yaml`)],
    ]),
  ),
};
const CRD_SCHEMAS = join(repoRoot, "test", "helm", "crd-schemas");
/** The version the renders target (helm built with go install defaults to an old one without it). */
const KUBE_VERSION = KUBERNETES_VERSIONS.at(-1) as string;
/** Settings of cluster mode that the service learns in issue 16 items 1–3 (another branch). */

let tools: Awaited<ReturnType<typeof ensureChartTools>>;
let work: string;
const renders = new Map<string, { file: string; objects: K8sObject[] }>();
/** A render by name (every VALUES entry is rendered in beforeAll). */
function rendered(name: string): { file: string; objects: K8sObject[] } {
  const r = renders.get(name);
  if (!r) throw new Error(`no render ${name}`);
  return r;
}

async function helm(args: string[]) {
  return exec(tools.helm, args, { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
}

async function failing(cmd: string, args: string[], env?: NodeJS.ProcessEnv) {
  try {
    const r = await exec(cmd, args, { cwd: repoRoot, env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, out: `${r.stdout}${r.stderr}` };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

function objects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

async function kubeconform(files: string[], k8s: string) {
  const schemas = join(tools.schemas, "{{ .NormalizedKubernetesVersion }}{{ .StrictSuffix }}");
  return failing(tools.kubeconform, [
    ...["-strict", "-summary", "-verbose", "-output", "json", "-kubernetes-version", k8s],
    ...["-schema-location", join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json")],
    ...["-schema-location", join(CRD_SCHEMAS, "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json")],
    ...files,
  ]);
}

interface Conformed {
  code: number;
  resources: { filename: string; kind: string; status: string; msg: string }[];
}
const conformRuns = new Map<string, Promise<Conformed>>();
const brokenFile = () => join(work, "broken.yaml");

/**
 * One kubeconform run per Kubernetes version over every render plus a deliberately broken copy of the
 * clustered one (most of kubeconform's time goes to compiling each kind's schema, once per run).
 */
function conformed(k8s: string): Promise<Conformed> {
  let run = conformRuns.get(k8s);
  if (!run) {
    const files = [...renders.values()].map((x) => x.file);
    if (k8s === KUBE_VERSION) files.push(brokenFile());
    run = kubeconform(files, k8s).then((r) => ({ code: r.code, resources: JSON.parse(r.out).resources }));
    conformRuns.set(k8s, run);
  }
  return run;
}

function find(objs: K8sObject[], kind: string, nameEnd: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name.endsWith(nameEnd));
  if (!o) throw new Error(`no ${kind} *${nameEnd} rendered`);
  return o;
}

beforeAll(async () => {
  tools = await ensureChartTools((line) => console.error(line));
  work = mkdtempSync(join(tmpdir(), "smstats-chart-"));
  for (const [name, extra] of Object.entries(VALUES)) {
    const { stdout } = await helm([
      ...["template", "smstats", CHART_DIR, "--namespace", "smstats", "--kube-version", KUBE_VERSION],
      ...extra,
    ]);
    const file = join(work, `${name}.yaml`);
    writeFileSync(file, stdout);
    renders.set(name, { file, objects: objects(stdout) });
  }
  writeFileSync(
    brokenFile(),
    readFileSync(rendered("cluster").file, "utf8")
      .replace("          imagePullPolicy:", "          imagePullPolicyy: Always\n          imagePullPolicy:")
      .replace("      path: /metrics", "      path: /metrics\n      scrapeEvery: 30s"),
  );
  // First run on a fresh clone: go install of helm and kubeconform, pip of the schemas.
}, 1_800_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("Helm chart helm/smstats", () => {
  it("carries grafana/'s dashboards, datasources and alerts as generated (npm run helm:gen)", () => {
    for (const [path, text] of chartFiles()) {
      expect(readFileSync(join(CHART_DIR, path), "utf8"), `${path} is stale: npm run helm:gen`).toBe(text);
    }
  });

  it.each(Object.entries(VALUES))("passes helm lint --strict with the %s values", async (_, extra) => {
    const r = await failing(tools.helm, [
      ...["lint", "--strict", "--kube-version", KUBE_VERSION, CHART_DIR],
      ...extra,
    ]);
    expect(r.out).toContain("0 chart(s) failed");
    expect(r.code).toBe(0);
  });

  it.each([
    ["a string replica count", ["--set-string", "processor.replicas=3"], "processor/replicas"],
    ["an unknown ClickHouse mode", ["--set", "clickhouse.mode=sharded"], "clickhouse/mode"],
    ["cluster mode without a cluster name", ["--set", "clickhouse.mode=cluster"], "clickhouse/cluster"],
    [
      "a root filesystem left writable",
      ["--set", "securityContext.readOnlyRootFilesystem=false"],
      "securityContext",
    ],
    ["an unknown value", ["--set", "ingest.replicaCount=2"], "replicaCount"],
    ["an external NATS without URLs", ["--set", "nats.enabled=false"], "nats/external/urls"],
  ])("fails helm lint through values.schema.json on %s", async (_, set, where) => {
    const r = await failing(tools.helm, [
      "lint",
      "--strict",
      "--kube-version",
      KUBE_VERSION,
      CHART_DIR,
      ...set,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("values don't meet the specifications of the schema");
    expect(r.out).toContain(where);
  });

  it("renders, with every values file, only manifests valid against Kubernetes' strict JSON schemas", async () => {
    for (const k8s of KUBERNETES_VERSIONS) {
      const r = await conformed(k8s);
      for (const name of Object.keys(VALUES)) {
        const mine = r.resources.filter((x) => x.filename === rendered(name).file);
        const bad = mine.filter((x) => x.status !== "statusValid");
        expect(bad, `${name} on Kubernetes ${k8s}`).toEqual([]);
        expect(mine).toHaveLength(rendered(name).objects.length);
      }
    }
  });

  it("has kubeconform refuse a field Kubernetes does not know, in core kinds and in the CRDs", async () => {
    const r = await conformed(KUBE_VERSION);
    expect(r.code).not.toBe(0);
    const invalid = r.resources
      .filter((x) => x.filename === brokenFile())
      .filter((x) => x.status === "statusInvalid")
      .map((x) => `${x.kind}: ${/additional properties '(\w+)'/.exec(x.msg)?.[1]}`);
    expect(invalid).toEqual(["Deployment: imagePullPolicyy", "ServiceMonitor: scrapeEvery"]);
  });

  it("renders a NATS configuration that nats-server -t accepts: 3 routes, JetStream on files", async () => {
    for (const name of ["default", "cluster"] as const) {
      const conf = find(rendered(name).objects, "ConfigMap", "nats-config").data?.["nats.conf"] ?? "";
      expect(conf).toMatch(/"store_dir": "\/data"/);
      // Encrypted at rest with the key the StatefulSet reads from its Secret.
      expect(conf).toMatch(/"cipher": "chachapoly"/);
      expect(conf).toMatch(/"key": \$JS_STORE_KEY/);
      const sts = find(rendered(name).objects, "StatefulSet", "nats") as unknown as {
        spec: {
          template: {
            spec: { containers: { name: string; env?: { name: string; valueFrom?: unknown }[] }[] };
          };
        };
      };
      const natsContainer = sts.spec.template.spec.containers.find((c) => c.name === "nats");
      expect(natsContainer?.env?.find((e) => e.name === "JS_STORE_KEY")?.valueFrom).toEqual({
        secretKeyRef: { name: "smstats-nats-store-key", key: "key" },
      });
      expect(conf.match(/nats:\/\/smstats-nats-\d\.smstats-nats-headless:6222/g)).toHaveLength(3);
      const file = join(work, `${name}-nats.conf`);
      writeFileSync(file, conf);
      // The StatefulSet sets SERVER_NAME from the pod name; the configuration reads it as $SERVER_NAME.
      const env = { ...process.env, SERVER_NAME: "smstats-nats-0", JS_STORE_KEY: "ab".repeat(32) };
      const ok = await failing("nats-server", ["-t", "-c", file], env);
      expect(ok.out).toContain("is valid");
      expect(ok.code).toBe(0);
      writeFileSync(file, conf.replace('"port": 4222', '"port": "four"'));
      expect((await failing("nats-server", ["-t", "-c", file], env)).code).not.toBe(0);
    }
  });

  it("gives every workload probes, resources, a non-root security context and a read-only root filesystem", () => {
    for (const name of Object.keys(VALUES)) {
      const workloads = rendered(name).objects.filter((o) => podSpecOf(o));
      expect(workloads.map((w) => `${w.kind}/${w.metadata.name}`).sort()).toEqual([
        "Deployment/smstats-ingest",
        "Deployment/smstats-processor",
        "Job/smstats-migrations",
        ...(name === "external NATS" ? [] : ["StatefulSet/smstats-nats"]),
      ]);
      expect(workloadProblems(workloads), name).toEqual([]);
    }
  });

  it("probes ingest and the processor on /health/live and /health/ready of their own port", () => {
    for (const name of ["ingest", "processor"]) {
      const c = podSpecOf(find(rendered("default").objects, "Deployment", name))
        ?.containers[0] as unknown as {
        livenessProbe: { httpGet: { path: string; port: string } };
        readinessProbe: { httpGet: { path: string; port: string } };
        ports: { name: string }[];
      };
      expect(c.livenessProbe.httpGet).toEqual({ path: "/health/live", port: "http" });
      expect(c.readinessProbe.httpGet).toEqual({ path: "/health/ready", port: "http" });
      // ingest has one more port, for /metrics only (its own listener); the probes stay on http.
      expect(c.ports.map((p) => p.name)).toEqual(name === "ingest" ? ["http", "metrics"] : ["http"]);
    }
  });

  it("runs migrations as a pre-install/pre-upgrade hook, with the replicated schema selectable", () => {
    const env = (name: string) => {
      const job = find(rendered(name).objects, "Job", "migrations");
      expect(job.metadata.annotations?.["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
      const c = podSpecOf(job)?.containers[0] as unknown as {
        args: string[];
        env: { name: string; value: string }[];
      };
      expect(c.args).toEqual(["--import", "tsx", "lib/migrate/cli.ts"]);
      return Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    };
    expect(env("default").SMSTATS_CLICKHOUSE_CLUSTER).toBeUndefined();
    expect(env("cluster")).toMatchObject({ SMSTATS_CLICKHOUSE_CLUSTER: "smstats" });
  });

  it("sets only settings the service's configuration accepts", () => {
    for (const name of Object.keys(VALUES)) {
      const objs = rendered(name).objects;
      const settings: Record<string, string> = { ...find(objs, "ConfigMap", "smstats").data };
      for (const w of objs.filter((o) => o.metadata.name.startsWith("smstats-") && podSpecOf(o))) {
        for (const c of podSpecOf(w)?.containers ?? []) {
          for (const e of c.env ?? []) if (e.name.startsWith("SMSTATS_")) settings[e.name] = e.value ?? "";
        }
      }
      expect(() => parseEnv(settings), name).not.toThrow();
    }
  });

  it("scrapes ingest's /metrics on its own port, which only the release and the monitoring namespaces reach", () => {
    const objs = rendered("cluster").objects;
    const monitor = find(objs, "ServiceMonitor", "ingest").spec as {
      endpoints: { port: string; path: string }[];
    };
    expect(monitor.endpoints).toMatchObject([{ port: "metrics", path: "/metrics" }]);
    const processorMonitor = find(objs, "ServiceMonitor", "processor").spec as {
      endpoints: { port: string }[];
    };
    expect(processorMonitor.endpoints).toMatchObject([{ port: "http" }]);
    const service = find(objs, "Service", "ingest").spec as { ports: { name: string; targetPort: string }[] };
    expect(service.ports.map((p) => `${p.name}->${p.targetPort}`)).toEqual([
      "http->http",
      "metrics->metrics",
    ]);
    const pod = (
      find(objs, "Deployment", "ingest").spec as {
        template: {
          spec: { containers: { env: { name: string; value: string }[]; ports: { name: string }[] }[] };
        };
      }
    ).template.spec.containers[0];
    expect(pod?.ports.map((p) => p.name)).toEqual(["http", "metrics"]);
    const env = Object.fromEntries((pod?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      SMSTATS_INGEST_METRICS_HOST: "0.0.0.0",
      SMSTATS_INGEST_METRICS_PORT: "9464",
    });
    const policy = find(objs, "NetworkPolicy", "ingest").spec as {
      ingress: { from?: unknown[]; ports: { port: string }[] }[];
    };
    const metricsRule = policy.ingress.find((r) => r.ports.some((p) => p.port === "metrics"));
    expect(metricsRule?.from?.length).toBeGreaterThan(0);
    const open = policy.ingress
      .filter((r) => r.from === undefined)
      .flatMap((r) => r.ports.map((p) => p.port));
    expect(open).toEqual(["http"]);
  });

  it("keeps /metrics and /health off the Ingress, and terminates TLS there", () => {
    const ingress = find(rendered("cluster").objects, "Ingress", "ingest").spec as {
      tls: { hosts: string[]; secretName: string }[];
      rules: { http: { paths: { path: string }[] } }[];
    };
    expect(ingress.tls).toEqual([{ hosts: ["stats.songmartyn.example"], secretName: "smstats-tls" }]);
    const paths = ingress.rules.flatMap((r) => r.http.paths.map((p) => p.path));
    expect(paths).toEqual(["/v1", "/docs", "/admin", "/portal"]);
  });
});
