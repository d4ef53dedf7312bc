import type avro from "avsc";

/** Raised when bytes cannot be data of the schema; decoding them is not attempted. */
export class AvroShapeError extends Error {}

/**
 * Walks Avro bytes along the writer schema without building values, checking every length, count,
 * enum index and union branch against the bytes that are left. avsc's decoder trusts block counts: a
 * corrupted count (say 2^60 items) makes it loop for hours before it notices the buffer ended, which
 * would let one bad request pin a core. Here every array or map block must fit in the bytes left (each
 * item of the project's schemas takes at least one byte), so the walk is bounded by the input's length.
 */
export function checkAvroShape(type: avro.Type, buf: Uint8Array): void {
  let pos = 0;
  const fail = (why: string): never => {
    throw new AvroShapeError(`malformed Avro at byte ${pos}: ${why}`);
  };
  // Zigzag varint as a JS number: exact up to 2^53, and large values only ever fail the checks below.
  const long = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i >= 10) fail("varint longer than 10 bytes");
      if (pos >= buf.length) fail("truncated");
      const b = buf[pos++] as number;
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (!(b & 0x80)) break;
    }
    return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
  };
  const skip = (n: number) => {
    if (n < 0 || n > buf.length - pos) fail(`length ${n} past the end`);
    pos += n;
  };
  const walk = (t: avro.Type): void => {
    const any = t as unknown as Record<string, unknown>;
    switch (t.typeName) {
      case "null":
        return;
      case "boolean":
        skip(1);
        return;
      case "int":
      case "long":
        long();
        return;
      case "float":
        skip(4);
        return;
      case "double":
        skip(8);
        return;
      case "bytes":
      case "string":
        skip(long());
        return;
      case "fixed":
        skip(any.size as number);
        return;
      case "enum": {
        const i = long();
        if (i < 0 || i >= (any.symbols as string[]).length) fail(`enum index ${i}`);
        return;
      }
      case "record":
      case "error":
        for (const f of any.fields as { type: avro.Type }[]) walk(f.type);
        return;
      case "array":
      case "map": {
        const isMap = t.typeName === "map";
        const item = (isMap ? any.valuesType : any.itemsType) as avro.Type;
        for (;;) {
          let n = long();
          if (n === 0) return;
          if (n < 0) {
            n = -n;
            long(); // the block's size in bytes
          }
          if (n > buf.length - pos) fail(`block of ${n} items past the end`);
          for (let i = 0; i < n; i++) {
            if (isMap) skip(long());
            walk(item);
          }
        }
      }
      case "union:unwrapped":
      case "union:wrapped": {
        const branches = any.types as avro.Type[];
        const i = long();
        if (i < 0 || i >= branches.length) fail(`union branch ${i}`);
        walk(branches[i] as avro.Type);
        return;
      }
      default:
        if (t.typeName.startsWith("logical:")) {
          walk(any.underlyingType as avro.Type);
          return;
        }
        fail(`unsupported type ${t.typeName}`);
    }
  };
  walk(type);
  if (pos !== buf.length) fail(`${buf.length - pos} bytes after the value`);
}
