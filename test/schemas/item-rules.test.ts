import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { itemSchemas } from "../../ingest/routes/v1/stats/batch-schema.ts";
import { itemProblem } from "../../ingest/routes/v1/stats/check-items.ts";
import { exampleBatches } from "../../schemas/index.ts";
import {
  type FieldRule,
  familyRecords,
  itemRules,
  latestRecords,
  recordSchema,
} from "../../schemas/item-rules.ts";

// The drift checks of the one source of item rules: the .avsc and schemas/item-rules.ts must name the
// same fields, every range must fit the ClickHouse column the value is stored in, and the JSON Schema
// of the body and the checks on decoded Avro batches must both come from them.

const migrations = join(import.meta.dirname, "../../clickhouse/migrations");

/** Column types by `table.column` (Nested sub-columns as `table.column.sub`), the last definition winning. */
function columnTypes(): Map<string, string> {
  const types = new Map<string, string>();
  for (const file of readdirSync(migrations).sort()) {
    const sql = readFileSync(join(migrations, file), "utf8");
    for (const m of sql.matchAll(/CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*?)\n\) ENGINE/g)) {
      const [, table, body] = m as unknown as [string, string, string];
      for (const line of body.split("\n")) {
        const col = /^\s+(\w+) (.+?),?$/.exec(line);
        if (!col) continue;
        const [, name, type] = col as unknown as [string, string, string];
        types.set(`${table}.${name}`, type);
        const nested = /^Nested\((.*)\)$/.exec(type);
        for (const sub of nested?.[1]?.split(",") ?? []) {
          const [subName, subType] = sub.trim().split(" ") as [string, string];
          types.set(`${table}.${name}.${subName}`, subType);
        }
      }
    }
  }
  return types;
}

const UNSIGNED: Record<string, number> = {
  UInt8: 2 ** 8 - 1,
  UInt16: 2 ** 16 - 1,
  UInt32: 2 ** 32 - 1,
  UInt64: 2 ** 64 - 1,
};

/** Every rule with a column, with the Avro type of its field. */
function columnRules(): { where: string; rule: FieldRule; avroType: unknown }[] {
  const out: { where: string; rule: FieldRule; avroType: unknown }[] = [];
  for (const [recordName, record] of latestRecords()) {
    const rules = itemRules[recordName as keyof typeof itemRules] as Record<string, FieldRule>;
    for (const field of record.fields as { name: string; type: unknown }[]) {
      const rule = rules[field.name] as FieldRule;
      const where = `${recordName}.${field.name}`;
      if (rule.column) out.push({ where, rule, avroType: field.type });
      if (rule.values?.column) out.push({ where: `${where} values`, rule: rule.values, avroType: "map" });
    }
  }
  return out;
}

describe("item rules (schemas/item-rules.ts beside the .avsc)", () => {
  it("have a rule for every field of every record of the latest schema, and no rule for a field it lacks", () => {
    const records = latestRecords();
    expect([...records.keys()].sort()).toEqual(Object.keys(itemRules).sort());
    for (const [name, record] of records) {
      const fields = (record.fields as { name: string }[]).map((f) => f.name).sort();
      expect(Object.keys(itemRules[name as keyof typeof itemRules]).sort(), name).toEqual(fields);
    }
  });

  it("keep every stored value within the range of its ClickHouse column", () => {
    const types = columnTypes();
    const checked = columnRules();
    expect(checked.length).toBeGreaterThan(30);
    for (const { where, rule, avroType } of checked) {
      const type = types.get(rule.column as string);
      expect(type, `${where}: no column ${rule.column} in the migrations`).toBeDefined();
      const t = String(type);
      if (t in UNSIGNED) {
        expect(rule.minimum, `${where} (${t}) must not be negative`).toBe(0);
        expect(rule.maximum, `${where} (${t}) needs a maximum`).toBeLessThanOrEqual(UNSIGNED[t] as number);
      } else if (t.startsWith("DateTime")) {
        expect(rule.minimum, `${where} (${t})`).toBeGreaterThanOrEqual(0);
        expect(rule.maximum, `${where} (${t})`).toBeLessThanOrEqual((2 ** 32 - 1) * 1000);
      } else if (t === "LowCardinality(String)") {
        // Every distinct value is kept in the dictionary: bounded strings or closed enums only.
        const isEnum = JSON.stringify(avroType).includes('"enum"');
        expect(isEnum || rule.maxLength !== undefined, `${where} (${t}) needs a maxLength`).toBe(true);
      } else {
        expect(["String", "Float64"], `${where}: a rule for column type ${t}`).toContain(t);
      }
    }
  });

  it("are what the JSON body's item schemas and the decoded-Avro checks are built from", () => {
    for (const [family, record] of Object.entries(familyRecords)) {
      expect(itemSchemas[family as keyof typeof itemSchemas]).toEqual(recordSchema(record, "wire"));
    }
    expect(itemSchemas.environment.properties.cpu_cores).toMatchObject({ minimum: 0, maximum: 65_535 });
    expect(itemSchemas.metrics.properties.tags.additionalProperties).toMatchObject({ maxLength: 256 });
  });

  it("pass the example items and refuse what ClickHouse would refuse or wrap", () => {
    const ex = exampleBatches.everything;
    const lib = ex.library[0];
    const env = ex.environment;
    const play = ex.playback[0];
    expect(itemProblem("library", lib)).toBeUndefined();
    expect(itemProblem("environment", env)).toBeUndefined();
    expect(itemProblem("library", { ...lib, total_songs: -5 })).toMatch(/total_songs/);
    expect(itemProblem("environment", { ...env, cpu_cores: 70_000 })).toMatch(/cpu_cores/);
    expect(itemProblem("environment", { ...env, version: "x".repeat(100_000) })).toMatch(/version/);
    expect(itemProblem("metrics", { ...ex.metrics[0], tags: { a: "v".repeat(1_000_000) } })).toMatch(/tags/);
    expect(itemProblem("library", { ...lib, total_size_gb: Number.NaN })).toMatch(/total_size_gb/);
    expect(itemProblem("playback", { ...play, event_type: "exploded" })).toMatch(/event_type/);
    expect(itemProblem("playback", { ...play, song: { ...play?.song, duration_sec: -1 } })).toMatch(
      /duration/,
    );
  });
});
