import type avro from "avsc";

/** Raised when bytes cannot be data of the schema; decoding them is not attempted. */
export class AvroShapeError extends Error {}

// Where a walk is in the bytes it checks.
interface Cursor {
  buf: Uint8Array;
  pos: number;
  /** Whether a string or map key seen so far holds a NUL byte. */
  nul: boolean;
}
// Checks one value of a type at the cursor and moves past it.
type Step = (c: Cursor) => void;

const fail = (c: Cursor, why: string): never => {
  throw new AvroShapeError(`malformed Avro at byte ${c.pos}: ${why}`);
};

// Zigzag varint as a JS number: exact up to 2^53, and large values only ever fail the checks below.
function long(c: Cursor): number {
  const { buf } = c;
  let value = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (i >= 10) fail(c, "varint longer than 10 bytes");
    if (c.pos >= buf.length) fail(c, "truncated");
    const b = buf[c.pos++] as number;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (!(b & 0x80)) break;
  }
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

function skip(c: Cursor, n: number): void {
  if (n < 0 || n > c.buf.length - c.pos) fail(c, `length ${n} past the end`);
  c.pos += n;
}

// Skips a string, noting a NUL in it: the one character no store of ours keeps that UTF-8 text decoded by
// avsc (utf8Slice, which turns any encoded surrogate into U+FFFD) can hold. A scan of bytes already at
// hand spares the caller a second walk over every decoded string.
function skipText(c: Cursor): void {
  const n = long(c);
  const start = c.pos;
  skip(c, n);
  if (c.nul) return;
  const { buf } = c;
  for (let i = start; i < start + n; i++) {
    if (buf[i] === 0) {
      c.nul = true;
      return;
    }
  }
}

// One walker per type, built once: the walk of every message is then plain closure calls, with no
// look-ups of the type's name, fields or branches (which made the generic walk cost as much as decoding).
const compiled = new WeakMap<avro.Type, Step>();

function stepOf(t: avro.Type): Step {
  const known = compiled.get(t);
  if (known) return known;
  // A recursive type meets itself while its walker is built: it then calls the walker once built.
  let built: Step | undefined;
  compiled.set(t, (c) => (built as Step)(c));
  built = build(t);
  compiled.set(t, built);
  return built;
}

function build(t: avro.Type): Step {
  const any = t as unknown as Record<string, unknown>;
  switch (t.typeName) {
    case "null":
      return () => {};
    case "boolean":
      return (c) => skip(c, 1);
    case "int":
    case "long":
      return (c) => void long(c);
    case "float":
      return (c) => skip(c, 4);
    case "double":
      return (c) => skip(c, 8);
    case "bytes":
      return (c) => skip(c, long(c));
    case "string":
      return skipText;
    case "fixed": {
      const size = any.size as number;
      return (c) => skip(c, size);
    }
    case "enum": {
      const symbols = (any.symbols as string[]).length;
      return (c) => {
        const i = long(c);
        if (i < 0 || i >= symbols) fail(c, `enum index ${i}`);
      };
    }
    case "record":
    case "error": {
      const fields = (any.fields as { type: avro.Type }[]).map((f) => stepOf(f.type));
      return (c) => {
        for (let i = 0; i < fields.length; i++) (fields[i] as Step)(c);
      };
    }
    case "array":
    case "map": {
      const isMap = t.typeName === "map";
      const item = stepOf((isMap ? any.valuesType : any.itemsType) as avro.Type);
      return (c) => {
        for (;;) {
          let n = long(c);
          if (n === 0) return;
          if (n < 0) {
            n = -n;
            long(c); // the block's size in bytes
          }
          if (n > c.buf.length - c.pos) fail(c, `block of ${n} items past the end`);
          for (let i = 0; i < n; i++) {
            if (isMap) skipText(c);
            item(c);
          }
        }
      };
    }
    case "union:unwrapped":
    case "union:wrapped": {
      const branches = (any.types as avro.Type[]).map(stepOf);
      return (c) => {
        const i = long(c);
        if (i < 0 || i >= branches.length) fail(c, `union branch ${i}`);
        (branches[i] as Step)(c);
      };
    }
    default:
      if (t.typeName.startsWith("logical:")) return stepOf(any.underlyingType as avro.Type);
      return (c) => fail(c, `unsupported type ${t.typeName}`);
  }
}

/**
 * Walks Avro bytes along the writer schema without building values, checking every length, count,
 * enum index and union branch against the bytes that are left. avsc's decoder trusts block counts: a
 * corrupted count (say 2^60 items) makes it loop for hours before it notices the buffer ended, which
 * would let one bad request pin a core. Here every array or map block must fit in the bytes left (each
 * item of the project's schemas takes at least one byte), so the walk is bounded by the input's length.
 * Tells on the way whether a string or map key holds a NUL byte (`nulInText`).
 */
export function checkAvroShape(type: avro.Type, buf: Uint8Array): { nulInText: boolean } {
  const c: Cursor = { buf, pos: 0, nul: false };
  stepOf(type)(c);
  if (c.pos !== buf.length) fail(c, `${buf.length - c.pos} bytes after the value`);
  return { nulInText: c.nul };
}
