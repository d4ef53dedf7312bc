import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import avro from "avsc";
import { afterAll, describe, expect, it } from "vitest";
import { SchemaError, SchemaRegistry } from "../../schemas/index.ts";
import { generatedTypesFile, renderTypes, typesDrift } from "../../schemas/render-types.ts";

const root = join(import.meta.dirname, "..", "..");

function renderOne(schema: avro.Schema): string {
  const type = avro.Type.forSchema(schema);
  return renderTypes([{ name: type.name as string, version: 1, file: "x.v1.avsc", type, fingerprint: "f" }]);
}

describe("generated schema types", () => {
  const dir = mkdtempSync(join(tmpdir(), "sm-generated-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the committed generated/telemetry.ts matches what the .avsc files produce", () => {
    expect(typesDrift(renderTypes(new SchemaRegistry().versions))).toBeUndefined();
  });

  it("reports drift when the committed file differs or is missing", () => {
    const stale = join(dir, "telemetry.ts");
    writeFileSync(stale, "// stale\n");
    expect(typesDrift(renderTypes(new SchemaRegistry().versions), stale)).toMatch(/out of date/);
    expect(typesDrift("x", join(dir, "absent.ts"))).toMatch(/missing/);
    expect(generatedTypesFile).toMatch(/schemas\/generated\/telemetry\.ts$/);
  });

  it("npm run schemas:check (check.ts) passes on the committed schemas", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", "schemas/check.ts"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/mutually compatible/);
  });

  it("renders records, enums with a symbols const, nullable unions, maps, arrays and named references", () => {
    const text = renderOne({
      type: "record",
      name: "ns.Outer",
      doc: "Outer doc.",
      fields: [
        { name: "kind", type: { type: "enum", name: "Kind", symbols: ["a", "b"] } },
        { name: "again", type: "ns.Kind", doc: "Same enum by name." },
        { name: "maybe", type: ["null", "long"], default: null },
        { name: "counts", type: { type: "map", values: "int" } },
        { name: "inner", type: { type: "array", items: { type: "record", name: "Inner", fields: [] } } },
      ],
    } as avro.Schema);
    expect(text).toContain('export type KindV1 = "a" | "b";');
    expect(text).toContain('export const KindV1Symbols = ["a", "b"] as const;');
    expect(text).toContain("  again: KindV1;");
    expect(text).toContain("  maybe: number | null;");
    expect(text).toContain("  /** @default null */\n  maybe");
    expect(text).toContain("export interface InnerV1 {}");
    expect(text).toContain("  counts: Record<string, number>;");
    expect(text).toContain("  inner: Array<InnerV1>;");
    expect(text).toContain("/** Outer doc. */\nexport interface OuterV1 {");
    expect(text).toContain("export type Outer = OuterV1;");
    expect(text).toContain("export const KindSymbols = KindV1Symbols;");
    // Nested types are declared before the interface that uses them, once each.
    expect(text.indexOf("export interface InnerV1")).toBeLessThan(text.indexOf("export interface OuterV1"));
    expect(text.match(/export type KindV1 =/g)).toHaveLength(1);
  });

  it("renders an ambiguous union the way avsc decodes it: wrapped by branch name", () => {
    const text = renderOne({
      type: "record",
      name: "W",
      fields: [{ name: "n", type: ["null", "int", "long"] }],
    } as avro.Schema);
    expect(text).toContain('  n: null | { "int": number } | { "long": number };');
  });

  it("refuses two named types that would get the same TypeScript name", () => {
    expect(() =>
      renderOne({
        type: "record",
        name: "a.R",
        fields: [
          { name: "x", type: { type: "enum", name: "a.E", symbols: ["x"] } },
          { name: "y", type: { type: "enum", name: "b.E", symbols: ["y"] } },
        ],
      } as avro.Schema),
    ).toThrow(SchemaError);
  });
});
