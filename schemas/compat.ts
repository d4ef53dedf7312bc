import type avro from "avsc";

/** One schema version as the compatibility check needs it (SchemaVersion satisfies it). */
export interface VersionedType {
  /** Full Avro name of the schema. */
  name: string;
  version: number;
  type: avro.Type;
  /** The .avsc file; when given, versions are grouped by its stem so a renamed root record is caught too. */
  file?: string;
}

/** One direction in which one version of a schema cannot read data written with another. */
export interface CompatibilityProblem {
  /** Full Avro name of the schema (of the reader). */
  name: string;
  /** Version whose schema reads. */
  reader: number;
  /** Version whose schema wrote the data. */
  writer: number;
  /** Where and why, e.g. "seq: cannot read long as string". */
  message: string;
}

interface AvroField {
  name: string;
  aliases: string[];
  type: avro.Type;
  defaultValue(): unknown;
}

const STEM = /^(.+)\.v\d+\.avsc$/;

function resolves(reader: avro.Type, writer: avro.Type): boolean {
  try {
    reader.createResolver(writer);
    return true;
  } catch {
    return false;
  }
}

const isUnion = (t: avro.Type) => t.typeName.startsWith("union");
const branches = (t: avro.Type) => (t as avro.types.UnwrappedUnionType).types;
const shortName = (name: string | undefined) => name?.split(".").at(-1) ?? "";

function describe(t: avro.Type): string {
  if (isUnion(t)) return `union [${branches(t).map(describe).join(", ")}]`;
  return t.name ? `${t.typeName} ${shortName(t.name)}` : t.typeName;
}

// Same rule as avsc: a reader record/enum/fixed reads a writer of the same full name or one of its aliases.
function namesMatch(reader: avro.Type, writer: avro.Type): boolean {
  return reader.name === writer.name || (reader.aliases ?? []).includes(writer.name as string);
}

/**
 * Finds where a reader cannot resolve a writer. avsc only says "cannot read <whole schema> as
 * <whole schema>", so this walks both types in step, asking avsc at each level, down to the first
 * field, item, branch or symbol that fails; avsc stays the judge of what is compatible.
 */
function explain(reader: avro.Type, writer: avro.Type, path: string): string | undefined {
  const at = path || "(root)";
  // A writer union is readable only when every branch is, so blame the first branch that is not.
  if (isUnion(writer)) {
    const bad = branches(writer).find((b) => !resolves(reader, b));
    return bad ? explain(reader, bad, path) : undefined;
  }
  if (isUnion(reader)) {
    const kin =
      branches(reader).find((b) => b.typeName === writer.typeName && b.name === writer.name) ??
      branches(reader).find((b) => b.typeName === writer.typeName);
    if (kin) return explain(kin, writer, path);
    return `${at}: the writer's ${describe(writer)} fits no branch of the reader's ${describe(reader)}`;
  }
  if (reader.typeName !== writer.typeName)
    return `${at}: cannot read ${describe(writer)} as ${describe(reader)}`;
  switch (reader.typeName) {
    case "record":
    case "error": {
      if (!namesMatch(reader, writer))
        return `${at}: record ${reader.name} cannot read record ${writer.name} (different name and no alias)`;
      // Every failing field, so one run of the check shows all that needs fixing.
      const failures: string[] = [];
      const writerFields = (writer as avro.types.RecordType).fields as unknown as AvroField[];
      for (const f of (reader as avro.types.RecordType).fields as unknown as AvroField[]) {
        const here = path ? `${path}.${f.name}` : f.name;
        const names = [f.name, ...f.aliases];
        const wf = writerFields.find((w) => names.includes(w.name));
        if (!wf) {
          if (f.defaultValue() === undefined)
            failures.push(
              `${here}: the reader's field has no default and the writer has no such field (give it a default, or an alias when it was renamed)`,
            );
        } else if (!resolves(f.type, wf.type)) {
          const why = explain(f.type, wf.type, here);
          if (why) failures.push(why);
        }
      }
      return failures.length > 0 ? failures.join("; ") : undefined;
    }
    case "array":
      return explain(
        (reader as avro.types.ArrayType).itemsType,
        (writer as avro.types.ArrayType).itemsType,
        `${path}[]`,
      );
    case "map":
      return explain(
        (reader as avro.types.MapType).valuesType as avro.Type,
        (writer as avro.types.MapType).valuesType as avro.Type,
        `${path}{}`,
      );
    case "enum": {
      if (!namesMatch(reader, writer))
        return `${at}: enum ${reader.name} cannot read enum ${writer.name} (different name and no alias)`;
      const symbols = (reader as avro.types.EnumType).symbols;
      const missing = (writer as avro.types.EnumType).symbols.filter((s) => !symbols.includes(s));
      return `${at}: enum ${shortName(reader.name)} lacks the writer's symbol(s) ${missing.join(", ")} and has no default`;
    }
    default:
      return `${at}: cannot read ${describe(writer)} as ${describe(reader)}`;
  }
}

function problem(reader: VersionedType, writer: VersionedType, err: unknown): CompatibilityProblem {
  const avscMessage = err instanceof Error ? err.message : String(err);
  const message =
    explain(reader.type, writer.type, "") ??
    (avscMessage.length > 300 ? `${avscMessage.slice(0, 300)}…` : avscMessage);
  return { name: reader.name, reader: reader.version, writer: writer.version, message };
}

/**
 * Checks every pair of versions of each schema in both directions (the newer reads the older's data
 * and the older reads the newer's), using avsc resolvers; returns every failing direction, [] when
 * all versions are mutually readable.
 */
export function checkCompatibility(versions: readonly VersionedType[]): CompatibilityProblem[] {
  const groups = new Map<string, VersionedType[]>();
  for (const v of versions) {
    const key = (v.file && STEM.exec(v.file)?.[1]) || v.name;
    groups.set(key, [...(groups.get(key) ?? []), v]);
  }
  const problems: CompatibilityProblem[] = [];
  for (const group of groups.values()) {
    const sorted = [...group].sort((a, b) => a.version - b.version);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        const older = sorted[i] as VersionedType;
        const newer = sorted[j] as VersionedType;
        if (older.version === newer.version) {
          problems.push({
            name: newer.name,
            reader: newer.version,
            writer: older.version,
            message: `two schemas claim version ${newer.version}`,
          });
          continue;
        }
        for (const [reader, writer] of [
          [newer, older],
          [older, newer],
        ] as const) {
          try {
            reader.type.createResolver(writer.type);
          } catch (err) {
            problems.push(problem(reader, writer, err));
          }
        }
      }
    }
  }
  return problems;
}

/** One readable line per problem, e.g. "MetricsBatch v3 cannot read v2 data: seq: cannot read long as string". */
export function formatProblems(problems: readonly CompatibilityProblem[]): string[] {
  return problems.map((p) => `${shortName(p.name)} v${p.reader} cannot read v${p.writer} data: ${p.message}`);
}
