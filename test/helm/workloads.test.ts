import { describe, expect, it } from "vitest";
import { type K8sObject, workloadProblems } from "../../helm/tools/workloads.ts";

// The pure rule behind the chart's workload test, held to cases that break each part of it.
const good = () => ({
  name: "app",
  resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "128Mi" } },
  securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
  livenessProbe: { httpGet: { path: "/health/live", port: "http" } },
  readinessProbe: { httpGet: { path: "/health/ready", port: "http" } },
});

function deployment(
  container: Record<string, unknown>,
  pod: Record<string, unknown> = { runAsNonRoot: true },
) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "d" },
    spec: { template: { spec: { securityContext: pod, containers: [container] } } },
  } as K8sObject;
}

describe("workloadProblems", () => {
  it("passes a container with requests, a memory limit, probes, non-root and a read-only root", () => {
    expect(workloadProblems([deployment(good())])).toEqual([]);
  });

  it.each([
    ["no requests", { resources: { limits: { memory: "1Gi" } } }, "no cpu and memory requests"],
    ["no memory limit", { resources: { requests: { cpu: "1", memory: "1Gi" } } }, "no memory limit"],
    [
      "a writable root",
      { securityContext: { allowPrivilegeEscalation: false } },
      "root filesystem not read-only",
    ],
    [
      "privilege escalation",
      { securityContext: { readOnlyRootFilesystem: true } },
      "privilege escalation not disallowed",
    ],
    ["no liveness probe", { livenessProbe: undefined }, "no liveness probe"],
    ["no readiness probe", { readinessProbe: undefined }, "no readiness probe"],
  ])("reports %s", (_, change, problem) => {
    expect(workloadProblems([deployment({ ...good(), ...change })])).toEqual([
      `Deployment/d container app: ${problem}`,
    ]);
  });

  it("reports a pod that may run as root, or names uid 0", () => {
    expect(workloadProblems([deployment(good(), {})])).toEqual([
      "Deployment/d container app: may run as root",
    ]);
    expect(workloadProblems([deployment(good(), { runAsNonRoot: true, runAsUser: 0 })])).toEqual([
      "Deployment/d container app: may run as root",
    ]);
    const container = { ...good(), securityContext: { ...good().securityContext, runAsNonRoot: false } };
    expect(workloadProblems([deployment(container)])).toEqual([
      "Deployment/d container app: may run as root",
    ]);
  });

  it("holds init containers to the same rules, and spares Jobs the probes only", () => {
    const d = deployment(good());
    (d.spec as { template: { spec: { initContainers: unknown[] } } }).template.spec.initContainers = [
      { name: "init", resources: good().resources, securityContext: {} },
    ];
    expect(workloadProblems([d])).toEqual([
      "Deployment/d init container init: root filesystem not read-only",
      "Deployment/d init container init: privilege escalation not disallowed",
    ]);
    const job = {
      ...deployment({ ...good(), livenessProbe: undefined, readinessProbe: undefined }),
      kind: "Job",
    };
    expect(workloadProblems([job])).toEqual([]);
    expect(
      workloadProblems([
        { ...job, metadata: { name: "j" }, spec: { template: { spec: { containers: [] } } } },
      ]),
    ).toEqual(["Job/j: no containers"]);
  });
});
