import { describe, expect, it } from "vitest";
import { type EnrichContext, enrich } from "../../processors/steps/enrich/index.ts";
import { exampleBatches, type MetricsBatch } from "../../schemas/index.ts";

const registered = { tier: "pro", platform: "linux", version: "1.3.0" };
const withEnvironment = exampleBatches.environment;
const withoutEnvironment: MetricsBatch = { ...exampleBatches.quality, environment: null };
const environment = withEnvironment.environment;
if (!environment) throw new Error("the environment example has no environment");

describe("enrich", () => {
  const cases: {
    name: string;
    batch: MetricsBatch;
    ctx: EnrichContext;
    want: { tier: string; platform: string; appVersion: string; country: string };
  }[] = [
    {
      name: "takes the tier from PostgreSQL and the platform from the batch's environment",
      batch: { ...withEnvironment, environment: { ...environment, os_platform: "windows" } },
      ctx: { instance: registered, country: "DE" },
      want: { tier: "pro", platform: "windows", appVersion: withEnvironment.app_version, country: "DE" },
    },
    {
      name: "falls back to the registered platform when the batch has no environment",
      batch: withoutEnvironment,
      ctx: { instance: { ...registered, platform: "darwin" }, country: "" },
      want: { tier: "pro", platform: "darwin", appVersion: withoutEnvironment.app_version, country: "" },
    },
    {
      name: "falls back to the registered platform when the environment's is empty",
      batch: { ...withEnvironment, environment: { ...environment, os_platform: "" } },
      ctx: { instance: registered, country: "US" },
      want: { tier: "pro", platform: "linux", appVersion: withEnvironment.app_version, country: "US" },
    },
    {
      name: "falls back to the registered version when the batch states none",
      batch: { ...withoutEnvironment, app_version: "" },
      ctx: { instance: registered, country: "JP" },
      want: { tier: "pro", platform: "linux", appVersion: "1.3.0", country: "JP" },
    },
    {
      name: "leaves platform and version empty when neither side knows them",
      batch: { ...withoutEnvironment, app_version: "" },
      ctx: { instance: { tier: "starter", platform: "", version: "" }, country: "" },
      want: { tier: "starter", platform: "", appVersion: "", country: "" },
    },
    {
      name: "refuses a country that is not an ISO alpha-2 code, so an address can never pass through",
      batch: withoutEnvironment,
      ctx: { instance: registered, country: "203.0.113.9" },
      want: { tier: "pro", platform: "linux", appVersion: withoutEnvironment.app_version, country: "" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = enrich(c.batch, c.ctx);
      if (r.kind !== "ok") throw new Error(`expected ok, got ${r.kind}`);
      expect(r.value).toEqual({ ...c.batch, ...c.want });
    });
  }

  it("drops a batch of an instance PostgreSQL no longer knows, as unknown_instance", () => {
    expect(enrich(withoutEnvironment, { instance: undefined, country: "US" })).toEqual({
      kind: "drop",
      reason: "unknown_instance",
    });
  });

  it("does not change the batch it was given", () => {
    const batch = structuredClone(withEnvironment);
    enrich(batch, { instance: registered, country: "US" });
    expect(batch).toEqual(withEnvironment);
  });
});
