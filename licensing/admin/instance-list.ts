import type pg from "pg";
import { LicensingError } from "../errors.ts";
import { isUuid } from "../instances/index.ts";
import type { PiiVault } from "../keys/index.ts";

/** Filters of the admin instance list; every one optional. */
export interface InstanceFilter {
  tier?: string;
  version?: string;
  platform?: string;
  banned?: boolean;
  /** Last seen at or after / before these times. */
  seenAfter?: Date;
  seenBefore?: Date;
  /** An instance id, hwid or owner email (exact; email case-insensitive). */
  q?: string;
}

/** One row of the list. */
export interface InstanceRow {
  id: string;
  hwid: string;
  platform: string | null;
  version: string | null;
  owner_email: string | null;
  tier: string;
  registered_at: string;
  last_seen_at: string | null;
  banned: boolean;
}

/** A page and the cursor of the next one (null on the last page). */
export interface InstancePage {
  items: InstanceRow[];
  next_cursor: string | null;
}

/** The position after a row, in the list's order (registered_at DESC, id DESC). */
interface Position {
  registeredAt: string;
  id: string;
}

/** Encodes a position as an opaque cursor. */
export function encodeCursor(p: Position): string {
  return Buffer.from(`${p.registeredAt}|${p.id}`, "utf8").toString("base64url");
}

/** Decodes a cursor; CURSOR_INVALID when it is not one of ours. */
export function decodeCursor(cursor: string): Position {
  const [registeredAt, id, ...rest] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  if (rest.length || !id || !isUuid(id) || !registeredAt || Number.isNaN(Date.parse(registeredAt))) {
    throw new LicensingError("CURSOR_INVALID", "the paging cursor is malformed");
  }
  return { registeredAt, id };
}

/**
 * The WHERE clause and parameters of a filter and cursor. Pure, so the shape of the query (which decides
 * the index PostgreSQL picks) is unit-tested. The cursor compares the row tuple, which PostgreSQL reads
 * as a range on the (… registered_at DESC, id DESC) indexes of migration 0005.
 */
export function instanceListWhere(
  filter: InstanceFilter,
  after: Position | null,
  emailIndex: (email: string) => Buffer,
): { where: string; params: unknown[] } {
  const params: unknown[] = [];
  const parts: string[] = [];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    parts.push(sql(`$${params.length}`));
  };
  if (filter.tier !== undefined) add((n) => `tier = ${n}`, filter.tier);
  if (filter.version !== undefined) add((n) => `version = ${n}`, filter.version);
  if (filter.platform !== undefined) add((n) => `platform = ${n}`, filter.platform);
  if (filter.banned === true) parts.push("is_banned");
  if (filter.banned === false) parts.push("NOT COALESCE(is_banned, false)");
  if (filter.seenAfter) add((n) => `last_seen_at >= ${n}`, filter.seenAfter);
  if (filter.seenBefore) add((n) => `last_seen_at < ${n}`, filter.seenBefore);
  const q = filter.q?.trim();
  if (q) {
    if (isUuid(q)) add((n) => `id = ${n}::uuid`, q);
    else {
      // Emails are sealed: the search matches the blind index of the query (case-insensitive).
      params.push(q, emailIndex(q));
      parts.push(`(hwid = $${params.length - 1} OR owner_email_index = $${params.length})`);
    }
  }
  if (after) {
    params.push(after.registeredAt, after.id);
    parts.push(`(registered_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  return { where: parts.length ? `WHERE ${parts.join(" AND ")}` : "", params };
}

/** One page of instances, newest registration first. */
export async function listInstances(
  pool: pg.Pool,
  vault: PiiVault,
  filter: InstanceFilter,
  page: { cursor?: string; limit: number },
): Promise<InstancePage> {
  const { where, params } = instanceListWhere(
    filter,
    page.cursor ? decodeCursor(page.cursor) : null,
    vault.emailIndex,
  );
  params.push(page.limit + 1);
  const { rows } = await pool.query(
    `SELECT id, hwid, platform, version, owner_email_sealed, tier, registered_at, last_seen_at,
       COALESCE(is_banned, false) AS banned,
       to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS registered_at_text
     FROM instances ${where}
     ORDER BY registered_at DESC, id DESC
     LIMIT $${params.length}`,
    params,
  );
  const more = rows.length > page.limit;
  const items: InstanceRow[] = rows
    .slice(0, page.limit)
    .map(({ registered_at_text: _, owner_email_sealed, ...r }) => ({
      ...r,
      owner_email: vault.openEmail(owner_email_sealed),
      registered_at: (r.registered_at as Date).toISOString(),
      last_seen_at: r.last_seen_at ? (r.last_seen_at as Date).toISOString() : null,
    }));
  const last = rows[page.limit - 1];
  return {
    items,
    // The cursor keeps PostgreSQL's microseconds: a Date would round them and skip or repeat rows.
    next_cursor: more && last ? encodeCursor({ registeredAt: last.registered_at_text, id: last.id }) : null,
  };
}
