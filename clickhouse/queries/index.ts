import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { findRepoRoot } from "../../lib/repo-root.ts";
import { splitStatements, sqlNumber, sqlString } from "../../lib/sql/index.ts";

/** Folder of the stored analyst queries (one question per .sql file). */
export const queriesDir = join(findRepoRoot(import.meta.url), "clickhouse", "queries");

/** One stored query. */
export interface StoredQuery {
  /** File name without .sql, e.g. skip_rate_by_source. */
  name: string;
  /** The text of the `-- Purpose:` header. */
  purpose: string;
  /** The file's text, header included. */
  sql: string;
  /** The one statement of the file without its comments, placeholders unexpanded: what runs. */
  statement: string;
  /** Names of its `{name}` placeholders, in order of first use; empty for most queries. */
  placeholders: string[];
}

/** A value a placeholder can take: strings become quoted literals, numbers finite numeric literals. */
export type QueryValue = string | number;

/** Raised for a placeholder without a value, a value without a placeholder, or a malformed query file. */
export class StoredQueryError extends Error {
  override readonly name = "StoredQueryError";
  constructor(
    readonly code: "QUERY_PARAMETER_MISSING" | "QUERY_PARAMETER_UNKNOWN" | "QUERY_FILE_INVALID",
    message: string,
  ) {
    super(message);
  }
}

// ClickHouse 18.16 has no server-side parameters; {name} is this project's own placeholder syntax.
const PLACEHOLDER = /\{([a-z_][a-z0-9_]*)\}/g;

function headerField(sql: string, field: string): string {
  const lines = sql.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`-- ${field}:`));
  if (start === -1) return "";
  const parts = [(lines[start] as string).slice(`-- ${field}:`.length).trim()];
  // Continuation lines are indented comment lines under the field.
  for (const line of lines.slice(start + 1)) {
    const m = /^--\s{2,}(\S.*)$/.exec(line);
    if (!m) break;
    parts.push(m[1] as string);
  }
  return parts.join(" ");
}

/** Reads every stored query of a folder, ordered by name. */
export function loadQueries(dir = queriesDir): StoredQuery[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .map((file) => {
      const sql = readFileSync(join(dir, file), "utf8");
      const statements = splitStatements(sql);
      if (statements.length !== 1) {
        throw new StoredQueryError(
          "QUERY_FILE_INVALID",
          `${dir}/${file}: expected one statement, found ${statements.length}`,
        );
      }
      const statement = statements[0] as string;
      return {
        name: file.slice(0, -".sql".length),
        purpose: headerField(sql, "Purpose"),
        sql,
        statement,
        placeholders: [...new Set([...statement.matchAll(PLACEHOLDER)].map((m) => m[1] as string))],
      };
    });
}

/**
 * Returns the query's statement with each `{name}` replaced by its value quoted through lib/sql.
 * Works on the comment-free statement: a quoted value may hold a newline, which inside a `--` comment
 * would end the comment and turn the rest of the value into SQL. Placeholders stand where a value goes,
 * never inside quotes. Every placeholder needs a value and every value a placeholder, so a misspelt
 * name fails rather than running a query that silently ignores it.
 */
export function expandQuery(query: StoredQuery, values: Readonly<Record<string, QueryValue>> = {}): string {
  for (const name of Object.keys(values)) {
    if (!query.placeholders.includes(name)) {
      throw new StoredQueryError(
        "QUERY_PARAMETER_UNKNOWN",
        `query ${query.name} has no placeholder {${name}}`,
      );
    }
  }
  return query.statement.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) {
      throw new StoredQueryError(
        "QUERY_PARAMETER_MISSING",
        `query ${query.name} needs a value for {${name}}`,
      );
    }
    return typeof value === "number" ? sqlNumber(value) : sqlString(value);
  });
}
