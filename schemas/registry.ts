import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import avro from "avsc";
import { findRepoRoot } from "../lib/repo-root.ts";
import { checkAvroShape } from "./shape-check.ts";

/** Folder holding every version of every telemetry schema, as `<kebab-name>.v<N>.avsc`. */
export const telemetrySchemaDir = join(findRepoRoot(import.meta.url), "schemas", "telemetry");

/** One schema version: its file, parsed type and fingerprint. */
export interface SchemaVersion {
  /** Full Avro name, e.g. songmartyn.stats.telemetry.MetricsBatch. */
  name: string;
  version: number;
  file: string;
  /** The parsed JSON of the file. */
  json: avro.Schema;
  type: avro.Type;
  /** sha256 of the schema's Parsing Canonical Form, hex: what the message header carries. */
  fingerprint: string;
}

/** Stable codes of SchemaError. */
export type SchemaErrorCode =
  | "SCHEMA_UNKNOWN"
  | "SCHEMA_DECODE_FAILED"
  | "SCHEMA_FOLDER_INVALID"
  // The type generator met an Avro type it has no TypeScript rendering for.
  | "SCHEMA_TYPE_UNSUPPORTED";

/** Raised when a message names a schema the registry does not know, its bytes do not decode, or a schema cannot be used. */
export class SchemaError extends Error {
  override readonly name = "SchemaError";
  constructor(
    readonly code: SchemaErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const FILE = /^([a-z0-9-]+)\.v(\d+)\.avsc$/;

/** Every schema version in the folder, lookups by fingerprint, and decoding old versions into the latest. */
export class SchemaRegistry {
  readonly versions: SchemaVersion[];
  private readonly byFingerprint = new Map<string, SchemaVersion>();
  private readonly resolvers = new Map<string, avro.Resolver | null>();

  constructor(dir = telemetrySchemaDir) {
    this.versions = readdirSync(dir)
      .filter((f) => f.endsWith(".avsc"))
      .map((file) => {
        const m = FILE.exec(file);
        if (!m)
          throw new SchemaError("SCHEMA_FOLDER_INVALID", `${dir}/${file}: name must be <name>.v<N>.avsc`);
        const json = JSON.parse(readFileSync(join(dir, file), "utf8")) as avro.Schema;
        const type = avro.Type.forSchema(json);
        return {
          name: type.name ?? file,
          version: Number(m[2]),
          file,
          json,
          type,
          fingerprint: type.fingerprint("sha256").toString("hex"),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
    for (const v of this.versions) this.byFingerprint.set(v.fingerprint, v);
  }

  /** The newest version of a schema, which writers use and readers resolve into. */
  latest(name: string): SchemaVersion {
    const all = this.versions.filter((v) => v.name === name || v.name.endsWith(`.${name}`));
    const last = all.at(-1);
    if (!last) throw new SchemaError("SCHEMA_UNKNOWN", `no schema named ${name}`);
    return last;
  }

  /** The version with a fingerprint, or undefined. */
  find(fingerprint: string): SchemaVersion | undefined {
    return this.byFingerprint.get(fingerprint);
  }

  /** Decodes bytes written with the schema of `fingerprint` into the latest version of the same schema. */
  decode<T>(bytes: Uint8Array, fingerprint: string): { value: T; writer: SchemaVersion; nulInText: boolean } {
    const writer = this.find(fingerprint);
    if (!writer) throw new SchemaError("SCHEMA_UNKNOWN", `unknown writer schema fingerprint ${fingerprint}`);
    const reader = this.latest(writer.name);
    let resolver = this.resolvers.get(fingerprint);
    if (resolver === undefined) {
      resolver = writer === reader ? null : reader.type.createResolver(writer.type);
      this.resolvers.set(fingerprint, resolver);
    }
    try {
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      // Bounded walk first: avsc trusts block counts and would loop on a corrupted one.
      const { nulInText } = checkAvroShape(writer.type, buf);
      const value = (resolver ? reader.type.fromBuffer(buf, resolver) : reader.type.fromBuffer(buf)) as T;
      return { value, writer, nulInText };
    } catch (err) {
      throw new SchemaError(
        "SCHEMA_DECODE_FAILED",
        `cannot decode ${writer.file}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
}
