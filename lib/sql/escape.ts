/**
 * The one audited place where values become ClickHouse SQL text. ClickHouse 18.16 has no server-side
 * query parameters, so every value that reaches SQL passes through these functions; nothing else
 * concatenates user data into SQL.
 */

/** Quotes a string as a ClickHouse string literal ('…' with backslash escapes). */
export function sqlString(value: string): string {
  // ClickHouse parses backslash escapes inside quoted strings, so the backslash is escaped first.
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\0/g, "\\0")}'`;
}

/** Renders a finite number as a SQL literal; NaN and infinities are refused rather than guessed. */
export function sqlNumber(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  return String(value);
}

/** Quotes an identifier (database, table, column) after checking it is a plain name. */
export function sqlIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RangeError(`not a plain SQL identifier: ${name}`);
  return `\`${name}\``;
}

/** Quotes a column name, which may name a Nested subcolumn (`tags.key`), after checking its shape. */
export function sqlColumn(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(name)) {
    throw new RangeError(`not a plain SQL column name: ${name}`);
  }
  return `\`${name}\``;
}
