import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import avro from "avsc";
import { afterAll, describe, expect, it } from "vitest";
import {
  checkCompatibility,
  formatProblems,
  METRICS_BATCH_SCHEMA,
  SchemaRegistry,
  telemetrySchemaDir,
} from "../../schemas/index.ts";

const registry = new SchemaRegistry();
const v2Json = registry.latest(METRICS_BATCH_SCHEMA).json;

interface FieldJson {
  name: string;
  type: unknown;
  default?: unknown;
  aliases?: string[];
  doc?: string;
}
interface RecordJson {
  name: string;
  fields: FieldJson[];
}

/** A v3 derived from v2 by `edit`, checked together with the real v1 and v2. */
function checkWithV3(edit: (root: RecordJson) => void) {
  const json = structuredClone(v2Json) as unknown as RecordJson;
  edit(json);
  const type = avro.Type.forSchema(json as unknown as avro.Schema);
  return checkCompatibility([
    ...registry.versions,
    { name: type.name as string, version: 3, type, file: "metrics-batch.v3.avsc" },
  ]);
}

function field(record: RecordJson, name: string): FieldJson {
  const f = record.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name}`);
  return f;
}

const directions = (problems: { reader: number; writer: number }[]) =>
  problems.map((p) => `${p.reader}<-${p.writer}`).sort();

describe("checkCompatibility", () => {
  it("passes for the committed schemas (every version reads every other, both ways)", () => {
    expect(checkCompatibility(registry.versions)).toEqual([]);
  });

  it("accepts a v3 that adds a field with a default", () => {
    const problems = checkWithV3((root) => {
      root.fields.push({ name: "venue_id", type: ["null", "string"], default: null, doc: "Venue." });
    });
    expect(problems).toEqual([]);
  });

  it("reports a new field without a default: v3 cannot read v1 or v2 data", () => {
    const problems = checkWithV3((root) => {
      root.fields.push({ name: "venue_id", type: "string" });
    });
    expect(directions(problems)).toEqual(["3<-1", "3<-2"]);
    for (const p of problems) {
      expect(p.name).toBe(METRICS_BATCH_SCHEMA);
      expect(p.message).toMatch(/^venue_id: .*no default/);
    }
  });

  it("reports a field whose type changed (seq long to string), in both directions with v2", () => {
    const problems = checkWithV3((root) => {
      Object.assign(field(root, "seq"), { type: "string", default: "0" });
    });
    expect(directions(problems)).toEqual(["2<-3", "3<-2"]);
    expect(problems.find((p) => p.reader === 3)?.message).toBe("seq: cannot read long as string");
    expect(problems.find((p) => p.reader === 2)?.message).toBe("seq: cannot read string as long");
  });

  it("reports an enum that lost a symbol: v3 cannot read v2 playback that skipped on error", () => {
    const problems = checkWithV3((root) => {
      const playback = field(root, "playback").type as { items: RecordJson };
      const skip = field(playback.items, "skip_reason").type as [string, { symbols: string[] }];
      skip[1].symbols = ["user", "admin"];
    });
    expect(problems).toEqual([
      {
        name: METRICS_BATCH_SCHEMA,
        reader: 3,
        writer: 2,
        message:
          "playback[].skip_reason: enum SkipReason lacks the writer's symbol(s) error and has no default",
      },
    ]);
  });

  it("reports a field renamed without an alias, in every direction", () => {
    const problems = checkWithV3((root) => {
      field(root, "batch_id").name = "batch_key";
    });
    expect(directions(problems)).toEqual(["1<-3", "2<-3", "3<-1", "3<-2"]);
    expect(problems.find((p) => p.reader === 3)?.message).toMatch(/^batch_key: /);
    expect(problems.find((p) => p.writer === 3)?.message).toMatch(/^batch_id: /);
  });

  it("reports a nested field removed from a record inside an array (old readers need it)", () => {
    const problems = checkWithV3((root) => {
      const metric = (field(root, "metrics").type as { items: RecordJson }).items;
      metric.fields = metric.fields.filter((f) => f.name !== "value");
    });
    expect(directions(problems)).toEqual(["1<-3", "2<-3"]);
    expect(problems[0]?.message).toBe(
      "metrics[].value: the reader's field has no default and the writer has no such field (give it a default, or an alias when it was renamed)",
    );
  });

  it("reports a renamed root record, since files of one schema are grouped by file name", () => {
    const problems = checkWithV3((root) => {
      root.name = "TelemetryBatch";
    });
    expect(problems.length).toBe(4);
    expect(problems[0]?.message).toMatch(/^\(root\): record .* cannot read record/);
  });

  it("names every failing field of a direction in one message", () => {
    const problems = checkWithV3((root) => {
      Object.assign(field(root, "seq"), { type: "string", default: "0" });
      root.fields.push({ name: "venue_id", type: "string" });
    });
    expect(problems.find((p) => p.reader === 3 && p.writer === 2)?.message).toBe(
      "seq: cannot read long as string; venue_id: the reader's field has no default and the writer has no such field (give it a default, or an alias when it was renamed)",
    );
  });

  it("formats each problem as one line naming the schema and both versions", () => {
    const lines = formatProblems([
      { name: METRICS_BATCH_SCHEMA, reader: 3, writer: 2, message: "seq: cannot read long as string" },
    ]);
    expect(lines).toEqual(["MetricsBatch v3 cannot read v2 data: seq: cannot read long as string"]);
  });

  describe("on a schema folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "sm-schemas-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("catches an incompatible v3 file next to the real versions", () => {
      for (const f of readdirSync(telemetrySchemaDir))
        copyFileSync(join(telemetrySchemaDir, f), join(dir, f));
      const v3 = structuredClone(v2Json) as unknown as RecordJson;
      field(v3, "seq").type = "int";
      writeFileSync(join(dir, "metrics-batch.v3.avsc"), JSON.stringify(v3));
      const problems = checkCompatibility(new SchemaRegistry(dir).versions);
      // int promotes to long, so v2 reads v3; v3 cannot read v2's longs.
      expect(problems.map((p) => [p.reader, p.writer, p.message])).toEqual([
        [3, 2, "seq: cannot read long as int"],
      ]);
    });
  });
});
