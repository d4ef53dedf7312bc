/** What a suspicious pattern is matched against. */
export type SuspiciousField = "user_agent" | "version" | "hwid";

/** One configured suspicious pattern: a named regular expression over one request field, and its action. */
export interface SuspiciousPattern {
  /** The rule's name, the `rule` label of its counter: lower case, digits and underscores. */
  name: string;
  field: SuspiciousField;
  /** A JavaScript regular expression (source). */
  pattern: string;
  /** Its flags, e.g. "i". */
  flags: string;
  /** flag: counted and recorded in abuse_flags, the request goes on; refuse: counted, answered 403. */
  action: "flag" | "refuse";
}

/**
 * The patterns used when none are configured: clients that say they are scanners, and values no
 * SongMartyn build sends (an hwid of one repeated character, a version that is not a version).
 */
export const DEFAULT_SUSPICIOUS_PATTERNS = JSON.stringify([
  {
    name: "scanner_user_agent",
    field: "user_agent",
    pattern: "sqlmap|nikto|masscan|zgrab|nmap|nuclei",
    flags: "i",
    action: "refuse",
  },
  { name: "repeated_hwid", field: "hwid", pattern: "^(.)\\1*$", flags: "", action: "flag" },
  {
    name: "not_a_version",
    field: "version",
    pattern: "^(?!v?\\d+(\\.\\d+)*([-+].*)?$)",
    flags: "",
    action: "flag",
  },
]);

const FIELDS: readonly string[] = ["user_agent", "version", "hwid"];

/** Parses SMSTATS_ABUSE_SUSPICIOUS_PATTERNS; throws an Error naming the first bad entry. */
export function parseSuspiciousPatterns(text: string): SuspiciousPattern[] {
  const raw: unknown = JSON.parse(text);
  if (!Array.isArray(raw)) throw new Error("suspicious patterns: expected a JSON array");
  const names = new Set<string>();
  return raw.map((entry, i) => {
    const e = entry as Record<string, unknown>;
    const where = `suspicious pattern ${i}`;
    if (typeof e.name !== "string" || !/^[a-z][a-z0-9_]{0,63}$/.test(e.name))
      throw new Error(`${where}: bad name`);
    if (names.has(e.name)) throw new Error(`${where}: name ${e.name} repeated`);
    names.add(e.name);
    if (typeof e.field !== "string" || !FIELDS.includes(e.field)) throw new Error(`${where}: bad field`);
    if (e.action !== "flag" && e.action !== "refuse")
      throw new Error(`${where}: action must be flag or refuse`);
    if (typeof e.pattern !== "string") throw new Error(`${where}: pattern must be a string`);
    const flags = e.flags === undefined ? "" : e.flags;
    if (typeof flags !== "string" || !/^[imsu]*$/.test(flags)) throw new Error(`${where}: bad flags`);
    new RegExp(e.pattern, flags); // throws on a bad expression
    return { name: e.name, field: e.field as SuspiciousField, pattern: e.pattern, flags, action: e.action };
  });
}
