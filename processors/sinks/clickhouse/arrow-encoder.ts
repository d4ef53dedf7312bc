import {
  type DataType,
  Field,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  List,
  Table,
  TimestampSecond,
  tableToIPC,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";

/** A column of a ClickHouse table as system.columns describes it. */
export interface ColumnSpec {
  name: string;
  /** ClickHouse type, e.g. LowCardinality(String), Array(UInt64), DateTime('UTC'). */
  type: string;
}

/** How one ClickHouse type is written into Arrow: the Arrow type and the conversion of a row value. */
interface ArrowColumnType {
  type: DataType;
  convert(value: unknown): unknown;
}

const same = (v: unknown) => v;
const bigint = (v: unknown) => (typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v ?? 0))));

/** Parses the route step's DateTime text ('YYYY-MM-DD hh:mm:ss', UTC) or epoch ms into epoch ms. */
function epochMs(v: unknown): number {
  if (typeof v === "number") return v;
  return Date.parse(`${String(v).replace(" ", "T")}Z`);
}

/**
 * The Arrow type ClickHouse reads into a column of `chType` (ArrowStream input). LowCardinality is
 * written as plain Utf8, which ClickHouse dictionary-encodes on insert.
 */
export function arrowColumnType(chType: string): ArrowColumnType {
  const t = chType.trim();
  const inner = /^(LowCardinality|Nullable)\((.*)\)$/.exec(t);
  if (inner) return arrowColumnType(inner[2] as string);
  const array = /^Array\((.*)\)$/.exec(t);
  if (array) {
    const item = arrowColumnType(array[1] as string);
    return {
      type: new List(new Field("item", item.type, true)),
      convert: (v) => (Array.isArray(v) ? v.map(item.convert) : []),
    };
  }
  if (/^DateTime(\(.*\))?$/.test(t)) return { type: new TimestampSecond("UTC"), convert: epochMs };
  const simple: Record<string, ArrowColumnType> = {
    String: { type: new Utf8(), convert: (v) => (v === null || v === undefined ? "" : String(v)) },
    UInt8: { type: new Uint8(), convert: same },
    UInt16: { type: new Uint16(), convert: same },
    UInt32: { type: new Uint32(), convert: same },
    UInt64: { type: new Uint64(), convert: bigint },
    Int8: { type: new Int8(), convert: same },
    Int16: { type: new Int16(), convert: same },
    Int32: { type: new Int32(), convert: same },
    Int64: { type: new Int64(), convert: bigint },
    Float32: { type: new Float32(), convert: same },
    Float64: { type: new Float64(), convert: same },
  };
  const found = simple[t];
  if (!found) throw new Error(`no Arrow mapping for ClickHouse type ${chType}`);
  return found;
}

/** Encodes row objects as an Arrow IPC stream (one record batch) with the given columns. */
export type ArrowEncoder = (rows: readonly Record<string, unknown>[]) => Uint8Array;

/**
 * Builds an encoder for rows that carry exactly `columns` (names as the table spells them, Nested
 * subcolumns dotted: `tags.key`). Column types come from the table, so the batch is what the table
 * expects and ClickHouse converts nothing by guesswork.
 */
export function arrowEncoder(table: readonly ColumnSpec[], columns: readonly string[]): ArrowEncoder {
  const byName = new Map(table.map((c) => [c.name, c]));
  const specs = columns.map((name) => {
    const spec = byName.get(name);
    if (!spec) throw new Error(`column ${name} is not in the table`);
    return { name, ...arrowColumnType(spec.type) };
  });
  return (rows) => {
    const vectors: Record<string, Vector> = {};
    for (const s of specs) {
      const values = new Array(rows.length);
      for (let i = 0; i < rows.length; i++)
        values[i] = s.convert((rows[i] as Record<string, unknown>)[s.name]);
      vectors[s.name] = vectorFromArray(values, s.type);
    }
    return tableToIPC(new Table(vectors), "stream");
  };
}
