import { createHmac } from "node:crypto";
import { isIP } from "node:net";
import { METRIC_FAMILY_TABLE } from "../../../schemas/index.ts";
import { memoized } from "./keyed-hashes.ts";

/**
 * The one table of shapes every stored string must have (issue 15, item 5). A string a client sends
 * reaches ClickHouse only through one of these rules; a value that does not fit is replaced (enums by
 * `other`, versions by '', identifiers by a keyed hash), a tag that is not allowed is dropped, and free
 * text keeps its words but loses paths, e-mail and network addresses (Sentry's data scrubbing: `[path]`,
 * `[email]`, `[ip]`, `[Filtered]`). Every replacement and drop is reported by field and reason.
 */

/** Why a value was not stored as sent. */
export type ShapeReason =
  | "not_in_enum"
  | "not_a_version"
  | "hashed"
  | "tag_key_not_allowed"
  | "tag_value_not_allowed"
  | "scrubbed";

/** Told of every value that was replaced or dropped (the step counts it by field and reason). */
export type ShapeReport = (field: string, reason: ShapeReason) => void;

/** What a closed set of strings falls back to. */
export const OTHER = "other";

/** Roles a SongMartyn user can have (session user_role, users_by_role keys). */
export const ROLES = ["host", "admin", "moderator", "dj", "singer", "guest", "viewer", "user"] as const;
/** Where a song comes from (playback song_source, library songs_by_source keys). */
export const SOURCES = ["youtube", "local", "spotify", "url", "other"] as const;
/** Operating systems an instance runs on (environment os_platform, every row's platform). */
export const PLATFORMS = ["linux", "darwin", "windows", "freebsd", "android", "ios"] as const;
/** Media and karaoke file types (song file type, library file_types keys). */
export const FILE_TYPES = [
  "mp4",
  "mkv",
  "webm",
  "avi",
  "mov",
  "m4v",
  "mpg",
  "mpeg",
  "wmv",
  "flv",
  "mp3",
  "m4a",
  "aac",
  "ogg",
  "opus",
  "flac",
  "wav",
  "wma",
  "cdg",
  "kar",
  "mid",
  "midi",
  "zip",
  "lrc",
  "ass",
  "srt",
] as const;

/** API operations whose latency instances report (the `operation` tag). */
export const OPERATIONS = [
  "search",
  "queue_add",
  "queue_list",
  "queue_remove",
  "queue_move",
  "playback_control",
  "library_scan",
  "user_join",
  "user_leave",
  "login",
  "download",
  "websocket",
] as const;
/** Error types of error_count_by_type (the `type` tag). */
export const ERROR_TYPES = [
  "youtube_download",
  "mpv_crash",
  "mpv",
  "websocket",
  "library_scan",
  "network",
  "db",
  "decode",
  "heap",
  "disk",
  "timeout",
  "auth",
  "config",
  "internal",
] as const;
/** Health states (the `status` tag). */
export const STATUSES = ["ok", "degraded", "dead", "error", "up", "down", "healthy", "unhealthy"] as const;
/** Why the SDK or the instance counted something (the `reason` tag). */
export const REASONS = ["outbox_full", "expired", "rejected", "timeout", "error", "user", "admin"] as const;
/** Clients a SongMartyn user connects with (the `client` tag). */
export const CLIENTS = ["web", "mobile", "tv", "desktop", "kiosk", "api"] as const;

/**
 * Quality metrics the SongMartyn app and SDK send. With the names of the family tables
 * (schemas/metric-families.ts) they are the metric names stored as sent; any other name is an
 * instance's own and is stored as `custom_` + a keyed hash (the same on every instance, so a custom
 * metric still counts fleet-wide), because a name made of a user's id must not reach ClickHouse.
 */
export const QUALITY_METRICS = [
  "error_count_by_type",
  "api_response_times_ms",
  "uptime_seconds",
  "mpv_health_status",
  "mpv_restart_count",
  "cpu_usage_percent",
  "memory_usage_mb",
  "disk_usage_percent",
  "websocket_errors",
  "websocket_connections_total",
  "sdk_outbox_evicted_batches",
  "sdk_outbox_evicted_items",
] as const;

const KNOWN_METRICS = new Set<string>([
  ...QUALITY_METRICS,
  ...Object.values(METRIC_FAMILY_TABLE).flatMap((f) => f.names),
]);

/** A metric name as stored: a known name as sent, any other as `custom_` + 16 hex of a keyed hash. */
export function shapeMetricName(secret: Buffer, name: string, report: ShapeReport): string {
  if (KNOWN_METRICS.has(name) || /^custom_[0-9a-f]{16}$/.test(name)) return name;
  report("metrics.name", "hashed");
  return memoized(
    secret,
    `m${name}`,
    () =>
      `custom_${createHmac("sha256", secret).update(`metric\u0000${name}`, "utf8").digest("hex").slice(0, 16)}`,
  );
}

/** How the value of an allowed tag key must look. */
export type TagValueRule = { enum: readonly string[] } | { pattern: RegExp };

const COUNT = { pattern: /^\d{1,10}$/ } as const;

/** Tag keys every metric may carry, with the shape of their value. */
export const COMMON_TAGS: Readonly<Record<string, TagValueRule>> = {
  status: { enum: STATUSES },
  reason: { enum: REASONS },
  source: { enum: SOURCES },
  client: { enum: CLIENTS },
  platform: { enum: PLATFORMS },
  // Added by the downsample step to pre-aggregated rows, and by instances that pre-aggregate.
  samples: COUNT,
};

/** Tag keys allowed on particular metrics (on top of COMMON_TAGS); a key listed nowhere is dropped. */
export const METRIC_TAGS: Readonly<Record<string, Readonly<Record<string, TagValueRule>>>> = {
  api_response_times_ms: { operation: { enum: OPERATIONS } },
  error_count_by_type: { type: { enum: ERROR_TYPES }, operation: { enum: OPERATIONS } },
  websocket_errors: { type: { enum: ERROR_TYPES } },
  mpv_restart_count: { type: { enum: ERROR_TYPES } },
  mpv_health_status: { type: { enum: ERROR_TYPES } },
  memory_usage_mb: { type: { enum: ["heap", "rss", "stack", "external", "total"] } },
};

// Versions: 1.4.2, v1.4, go1.22.4, 0.37.0-rc.1, 1.4.2+abc1234 (a commit). Pre-release labels are words,
// not free text, so a name or a path cannot ride in one.
const VERSION =
  /^(?:go|v)?\d{1,6}(?:\.\d{1,6}){0,3}(?:-(?:alpha|beta|rc|pre|dev|dirty|snapshot|nightly)(?:\.?\d{1,6})?)?(?:\+[0-9a-f]{7,40})?$/i;
// OS names and edition words an os_version may contain beside version tokens (Windows 11 Pro 23H2,
// macOS 14.7.1 (23H222), Ubuntu 22.04.4 LTS, 6.1.0-18-amd64).
const OS_WORDS = new Set(
  [
    "windows",
    "macos",
    "mac",
    "os",
    "x",
    "osx",
    "ubuntu",
    "debian",
    "fedora",
    "arch",
    "linux",
    "gnu",
    "mint",
    "centos",
    "rhel",
    "red",
    "hat",
    "enterprise",
    "alpine",
    "opensuse",
    "suse",
    "manjaro",
    "pop",
    "raspbian",
    "nixos",
    "gentoo",
    "freebsd",
    "android",
    "ios",
    "home",
    "pro",
    "education",
    "server",
    "ltsc",
    "lts",
    "edition",
    "build",
    "core",
    "workstation",
    "tumbleweed",
    "leap",
    "bookworm",
    "bullseye",
    "trixie",
    "jammy",
    "noble",
    "focal",
    "sonoma",
    "sequoia",
    "ventura",
    "monterey",
  ].map((w) => w.toLowerCase()),
);
// A version token starts with a digit (23H2, 22631.4460, (23H222), 6.1.0-18-amd64): a name cannot.
const OS_VERSION_TOKEN = /^\(?\d[0-9A-Za-z._+-]{0,23}\)?$/;

// Identifiers an instance generates: a UUID, the Go SDK's 16 random bytes in base64url (22 characters)
// and ingest's own 24 bytes (32 characters). Anything else is hashed.
const IDENTIFIER =
  /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9_-]{22}|[A-Za-z0-9_-]{32})$/i;

/** A value of a closed set, lowercased and trimmed, else `other` (reported). */
export function shapeEnum(
  field: string,
  value: string,
  allowed: readonly string[],
  report: ShapeReport,
): string {
  const v = value.trim().toLowerCase();
  if (allowed.includes(v)) return v;
  report(field, "not_in_enum");
  return OTHER;
}

/** A version string ('' stays ''), else '' (reported). An IPv4 address is four numbers but no version. */
export function shapeVersion(field: string, value: string | null, report: ShapeReport): string {
  const v = (value ?? "").trim();
  if (v === "" || (VERSION.test(v) && isIP(v.replace(/^(?:go|v)/i, "")) === 0)) return v;
  report(field, "not_a_version");
  return "";
}

/** An OS version: known OS words and tokens that start with a digit, else '' (reported). */
export function shapeOsVersion(field: string, value: string | null, report: ShapeReport): string {
  const v = (value ?? "").trim();
  if (v === "") return v;
  const tokens = v.split(/\s+/);
  // Debian GNU/Linux 12 (bookworm): a word may be in brackets or joined to another by a slash.
  const word = (t: string) =>
    t
      .replace(/^\((.*)\)$/, "$1")
      .split("/")
      .every((w) => OS_WORDS.has(w.toLowerCase()));
  const fits = tokens.every(
    (t) => word(t) || (OS_VERSION_TOKEN.test(t) && isIP(t.replace(/[()]/g, "")) === 0),
  );
  if (fits && tokens.length <= 8) return v;
  report(field, "not_a_version");
  return "";
}

/**
 * An identifier in a fixed format (UUID, 22 or 32 base64url characters) as it is, anything else as a
 * keyed hash salted with the instance (32 hex characters, the same for the same id, so joins and
 * de-duplication keep working). '' stays ''.
 */
export function shapeIdentifier(
  field: string,
  secret: Buffer,
  instanceId: string,
  value: string,
  report: ShapeReport,
): string {
  if (value === "" || IDENTIFIER.test(value)) return value;
  report(field, "hashed");
  return identifierHash(secret, field, instanceId, value);
}

/** The keyed hash an identifier that is not in a fixed format is stored as (see shapeIdentifier). */
export function identifierHash(secret: Buffer, field: string, instanceId: string, value: string): string {
  const compute = () =>
    createHmac("sha256", secret)
      .update(`id\u0000${field}\u0000${instanceId}\u0000${value}`, "utf8")
      .digest("hex")
      .slice(0, 32);
  // Memoized like songs and users (a session's id comes back in every event of the session), except a
  // batch's id: each is new, and remembering them would only push the others out of the memo.
  return field === "batch_id"
    ? compute()
    : memoized(secret, `i${field.length}:${field}${instanceId.length}:${instanceId}${value}`, compute);
}

/** Map keys (roles, sources, file types) folded into a closed set; counts of unknown keys go to `other`. */
export function shapeCounts(
  field: string,
  counts: Record<string, number>,
  allowed: readonly string[],
  report: ShapeReport,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(counts)) {
    const k = shapeEnum(field, key, allowed, report);
    out[k] = (out[k] ?? 0) + n;
  }
  return out;
}

/**
 * A metric's tags: keys allowed for every metric or for this one, each value in its key's shape (an
 * enum value that does not fit becomes `other`; a count that does not fit is dropped); every other key
 * is dropped. Returns `tags` itself when nothing changed.
 */
export function shapeTags(
  metric: string,
  tags: Record<string, string>,
  report: ShapeReport,
): Record<string, string> {
  // Own properties only: a tag key or metric named like a prototype member (valueOf) is not a rule.
  const own = Object.hasOwn(METRIC_TAGS, metric) ? METRIC_TAGS[metric] : undefined;
  const out: Record<string, string> = {};
  let changed = false;
  for (const key in tags) {
    const rule =
      (own && Object.hasOwn(own, key) ? own[key] : undefined) ??
      (Object.hasOwn(COMMON_TAGS, key) ? COMMON_TAGS[key] : undefined);
    const value = tags[key] as string;
    if (!rule) {
      report("metrics.tags", "tag_key_not_allowed");
      changed = true;
      continue;
    }
    if ("enum" in rule) {
      const v = shapeEnum(`metrics.tags.${key}`, value, rule.enum, report);
      if (v !== value) changed = true;
      out[key] = v;
    } else if (rule.pattern.test(value)) out[key] = value;
    else {
      report(`metrics.tags.${key}`, "tag_value_not_allowed");
      changed = true;
    }
  }
  return changed ? out : tags;
}

// Sentry's scrubbers, in the order they run: e-mail first (it contains dots and @), then URLs and paths
// (absolute Unix, home, Windows drive, UNC, file: and relative ones with a separator), then addresses.
const EMAIL = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.\p{L}{2,}/gu;
// An absolute path may hold spaces, so it runs to the end of the text; a relative one is a word with a
// separator in it.
const ABSOLUTE_PATH = /(?:^|(?<=\s))(?:file:\/\/|[a-z]:[\\/]|\\\\|~[\\/]|\/).*$/is;
const RELATIVE_PATH = /[^\s\\/]*[\\/]\S*/g;
const IPV4 = /\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g;
const IPV6_CANDIDATE = /\[?[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%\w+)?\]?(?::\d{1,5})?/gi;
// Words Sentry treats as secrets wherever they appear (its default sensitive fields).
const SENSITIVE = /password|secret|passwd|api_?key|auth|credentials|private_?key|token|bearer/i;

/**
 * Free text with paths, e-mail and network addresses replaced by `[path]`, `[email]` and `[ip]`, and a
 * value that names a secret replaced whole by `[Filtered]`, as Sentry's default data scrubbing does.
 * Reported once when anything was replaced.
 */
export function scrubText(field: string, value: string, report: ShapeReport): string {
  if (SENSITIVE.test(value)) {
    report(field, "scrubbed");
    return "[Filtered]";
  }
  const out = value
    .replace(EMAIL, "[email]")
    .replace(ABSOLUTE_PATH, "[path]")
    .replace(RELATIVE_PATH, (m) => (m === "[path]" ? m : "[path]"))
    .replace(IPV4, (m) => (isIP(m.replace(/:\d+$/, "")) ? "[ip]" : m))
    .replace(IPV6_CANDIDATE, (m) => {
      const bare = m.replace(/^\[|\](?::\d+)?$/g, "").replace(/%\w+$/, "");
      return isIP(bare) === 6 ? "[ip]" : m;
    });
  if (out !== value) report(field, "scrubbed");
  return out;
}
