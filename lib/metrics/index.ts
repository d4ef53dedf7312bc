import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** A process's Prometheus registry with Node's default metrics, served at /metrics. */
export function createRegistry(processName: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName });
  collectDefaultMetrics({ register: registry, prefix: "smstats_" });
  return registry;
}

/**
 * The metrics every pipeline component reports, after Vector: received, sent, dropped{reason},
 * errors{type}. One set of series per registry, told apart by the `component` label.
 */
export interface ComponentMetrics {
  /** Items taken in (batches, messages or rows, as the component's unit says). */
  received(n?: number): void;
  /** Items handed on successfully. */
  sent(n?: number): void;
  /** Items dropped on purpose, by reason. */
  dropped(reason: string, n?: number): void;
  /** Errors, by type; the item may be retried. */
  error(type: string, n?: number): void;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  return (
    (registry.getSingleMetric(name) as Counter<string> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

/** Returns the standard counters of one component, creating the shared series on first use. */
export function componentMetrics(registry: Registry, component: string, unit: string): ComponentMetrics {
  const received = counter(registry, "smstats_component_received_total", "Items a component took in.", [
    "component",
    "unit",
  ]);
  const sent = counter(registry, "smstats_component_sent_total", "Items a component handed on.", [
    "component",
    "unit",
  ]);
  const dropped = counter(
    registry,
    "smstats_component_dropped_total",
    "Items a component dropped, by reason.",
    ["component", "unit", "reason"],
  );
  const errors = counter(registry, "smstats_component_errors_total", "Errors in a component, by type.", [
    "component",
    "type",
  ]);
  // Touch the series so they exist (as 0) before the first event: alerts on rate() need a baseline.
  received.inc({ component, unit }, 0);
  sent.inc({ component, unit }, 0);
  return {
    received: (n = 1) => received.inc({ component, unit }, n),
    sent: (n = 1) => sent.inc({ component, unit }, n),
    dropped: (reason, n = 1) => dropped.inc({ component, unit, reason }, n),
    error: (type, n = 1) => errors.inc({ component, type }, n),
  };
}

/** A histogram of durations in seconds, registered once per registry. */
export function durationHistogram(registry: Registry, name: string, help: string, labelNames: string[] = []) {
  return (
    (registry.getSingleMetric(name) as Histogram<string> | undefined) ??
    new Histogram({
      name,
      help,
      labelNames,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    })
  );
}
