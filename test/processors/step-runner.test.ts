import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { deadLetter, drop, ok, retry } from "../../processors/runtime/result.ts";
import { stepRunner } from "../../processors/runtime/step-runner.ts";

const counts = async (registry: Registry) =>
  Object.fromEntries(
    (await registry.getMetricsAsJSON()).flatMap((m) =>
      m.values.map((v) => [`${m.name}${JSON.stringify(v.labels)}`, v.value]),
    ),
  );

describe("stepRunner", () => {
  it("runs the steps in order and stops at the first result that is not ok, counting each step", async () => {
    const registry = new Registry();
    const runner = stepRunner<string, number>(registry)
      .step("double", (n) => ok(n * 2))
      .step(
        "check",
        (n, ctx) => (ctx === "drop" ? drop("asked") : ctx === "later" ? retry("busy", 5) : ok(n)),
        ["asked"],
      )
      .step("name", async (n) => (n > 10 ? deadLetter("too_big", `${n}`) : ok(`n=${n}`)));
    expect(runner.names).toEqual(["double", "check", "name"]);
    expect(await runner.run(2, "")).toEqual(ok("n=4"));
    expect(await runner.run(2, "drop")).toEqual(drop("asked"));
    expect(await runner.run(2, "later")).toEqual(retry("busy", 5));
    expect(await runner.run(6, "")).toEqual(deadLetter("too_big", "12"));
    const c = await counts(registry);
    const key = (metric: string, component: string) =>
      `smstats_component_${metric}_total{"component":"${component}_step","unit":"batches"}`;
    expect(c[key("received", "double")]).toBe(4);
    expect(c[key("sent", "double")]).toBe(4);
    expect(c[key("received", "check")]).toBe(4);
    expect(c[key("sent", "check")]).toBe(2);
    expect(c[key("received", "name")]).toBe(2);
    expect(c[key("sent", "name")]).toBe(1);
    expect(
      c['smstats_component_dropped_total{"component":"check_step","unit":"batches","reason":"asked"}'],
    ).toBe(1);
    expect(
      c[
        'smstats_component_dropped_total{"component":"name_step","unit":"batches","reason":"dead_letter:too_big"}'
      ],
    ).toBe(1);
    expect(c['smstats_component_errors_total{"component":"check_step","type":"retry"}']).toBe(1);
  });

  it("counts a step that throws as an error of the step and passes the error on", async () => {
    const registry = new Registry();
    const runner = stepRunner<undefined, number>(registry).step("boom", () => {
      throw new Error("lookup failed");
    });
    await expect(runner.run(1, undefined)).rejects.toThrow("lookup failed");
    const c = await counts(registry);
    expect(c['smstats_component_errors_total{"component":"boom_step","type":"failed"}']).toBe(1);
    expect(c['smstats_component_sent_total{"component":"boom_step","unit":"batches"}']).toBe(0);
  });
});
