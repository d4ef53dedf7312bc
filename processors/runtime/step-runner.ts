import type { Registry } from "prom-client";
import { type ComponentMetrics, componentMetrics } from "../../lib/metrics/index.ts";
import { ok, type StepResult } from "./result.ts";

/** One named step: a function of its input and the message's context (headers, injected lookups). */
export type StepFn<C, I, O> = (input: I, ctx: C) => StepResult<O> | Promise<StepResult<O>>;

/** A chain of named steps; `step` appends one, `run` takes one message through all of them. */
export interface StepRunner<C, I, O> {
  /**
   * Appends a step. Its counters are `smstats_component_*{component="<name>_step",unit="batches"}`;
   * `dropReasons` are the reasons it may drop for (counted as 0 from the start, so they show before
   * the first drop; a reason not listed is counted as well).
   */
  step<N>(name: string, fn: StepFn<C, O, N>, dropReasons?: readonly string[]): StepRunner<C, I, N>;
  /** Runs the steps in order until one does not return ok; that result is the message's outcome. */
  run(input: I, ctx: C): Promise<StepResult<O>>;
  /** The steps' names, in order. */
  readonly names: readonly string[];
}

interface Counted<C> {
  name: string;
  fn: StepFn<C, unknown, unknown>;
  counts: ComponentMetrics;
}

/**
 * Counts what a step did with a message, after Vector's component metrics: received for every message,
 * sent for ok, dropped{reason} for drop and dead letter (`dead_letter:<reason>`), errors{type="retry"}
 * for retry and errors{type="failed"} for a step that threw (the error goes on to the pull loop).
 */
async function runCounted<C>(step: Counted<C>, input: unknown, ctx: C): Promise<StepResult<unknown>> {
  step.counts.received();
  let result: StepResult<unknown>;
  try {
    result = await step.fn(input, ctx);
  } catch (err) {
    step.counts.error("failed");
    throw err;
  }
  if (result.kind === "ok") step.counts.sent();
  else if (result.kind === "drop") step.counts.dropped(result.reason);
  else if (result.kind === "deadLetter") step.counts.dropped(`dead_letter:${result.reason}`);
  else step.counts.error("retry");
  return result;
}

/**
 * The runner over named steps (PostHog's ingestion runner): every step's outcome is counted per step,
 * the first one that is not ok ends the message's run. The pull loop turns the final result into ack,
 * nak or dead letter.
 */
export function stepRunner<C, I>(registry: Registry): StepRunner<C, I, I> {
  const build = <O>(steps: readonly Counted<C>[]): StepRunner<C, I, O> => ({
    names: steps.map((s) => s.name),
    step<N>(name: string, fn: StepFn<C, O, N>, dropReasons: readonly string[] = []) {
      const counts = componentMetrics(registry, `${name}_step`, "batches");
      for (const reason of dropReasons) counts.dropped(reason, 0);
      return build<N>([...steps, { name, fn: fn as StepFn<C, unknown, unknown>, counts }]);
    },
    async run(input, ctx) {
      let value: unknown = input;
      for (const step of steps) {
        const result = await runCounted(step, value, ctx);
        if (result.kind !== "ok") return result as StepResult<O>;
        value = result.value;
      }
      return ok(value as O);
    },
  });
  return build<I>([]);
}
