/** A Kubernetes object as rendered (only the fields the checks read are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

interface Container {
  name: string;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: Record<string, unknown>;
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  env?: { name: string; value?: string }[];
}

/** The pod spec of a workload object. */
export interface PodSpec {
  securityContext?: Record<string, unknown>;
  containers: Container[];
  initContainers?: Container[];
}

/** Kinds that run pods, and whether they run until stopped (and so need liveness/readiness probes). */
const WORKLOADS: Record<string, { longRunning: boolean }> = {
  Deployment: { longRunning: true },
  StatefulSet: { longRunning: true },
  DaemonSet: { longRunning: true },
  // A Job runs to completion: nothing routes to it and a restart is its backoff, so probes do not apply.
  Job: { longRunning: false },
  CronJob: { longRunning: false },
};

/** The pod spec inside a workload object, or undefined for other kinds. */
export function podSpecOf(obj: K8sObject): PodSpec | undefined {
  if (!(obj.kind in WORKLOADS)) return undefined;
  const spec = obj.spec as {
    template?: { spec?: PodSpec };
    jobTemplate?: { spec?: { template?: { spec?: PodSpec } } };
  };
  return obj.kind === "CronJob" ? spec.jobTemplate?.spec?.template?.spec : spec.template?.spec;
}

function containerProblems(c: Container, pod: PodSpec, where: string): string[] {
  const problems: string[] = [];
  const sc = c.securityContext ?? {};
  const psc = pod.securityContext ?? {};
  if (c.resources?.requests?.cpu === undefined || c.resources?.requests?.memory === undefined)
    problems.push(`${where}: no cpu and memory requests`);
  if (c.resources?.limits?.memory === undefined) problems.push(`${where}: no memory limit`);
  if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: root filesystem not read-only`);
  if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: privilege escalation not disallowed`);
  // Non-root: runAsNonRoot on the container or the pod (the container's wins), and no uid 0 anywhere.
  const nonRoot = (sc.runAsNonRoot ?? psc.runAsNonRoot) === true;
  const uid = sc.runAsUser ?? psc.runAsUser;
  if (!nonRoot || uid === 0) problems.push(`${where}: may run as root`);
  return problems;
}

/**
 * Every way a rendered workload falls short of the chart's rules: each container (init containers too) has
 * cpu/memory requests and a memory limit, runs as non-root with a read-only root filesystem and no
 * privilege escalation; long-running workloads' containers have liveness and readiness probes.
 */
export function workloadProblems(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const obj of objects) {
    const pod = podSpecOf(obj);
    if (!pod) continue;
    const name = `${obj.kind}/${obj.metadata.name}`;
    if (!pod.containers?.length) problems.push(`${name}: no containers`);
    for (const c of pod.containers ?? []) {
      problems.push(...containerProblems(c, pod, `${name} container ${c.name}`));
      if (WORKLOADS[obj.kind]?.longRunning) {
        if (!c.livenessProbe) problems.push(`${name} container ${c.name}: no liveness probe`);
        if (!c.readinessProbe) problems.push(`${name} container ${c.name}: no readiness probe`);
      }
    }
    for (const c of pod.initContainers ?? []) {
      problems.push(...containerProblems(c, pod, `${name} init container ${c.name}`));
    }
  }
  return problems;
}
