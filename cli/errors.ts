import { loadMigrations, postgresMigrationsDir } from "../lib/migrate/index.ts";
import { UsageError } from "./usage.ts";

/**
 * Exit codes of `smstats` (listed in `smstats --help` and the README):
 * 0 done; 1 the operation was refused (a domain error such as LICENSE_NOT_FOUND or TIER_UNKNOWN);
 * 2 the arguments do not fit; 3 the stack is not ready (not migrated, a store down, configuration invalid);
 * 4 an unexpected failure (a bug: the message says what failed).
 */
const EXIT = { refused: 1, usage: 2, notReady: 3, internal: 4 } as const;

export const EXIT_CODES_HELP = `exit codes: 0 done, 1 refused (the code says why), 2 wrong arguments, 3 stack not ready
            (not migrated, store down, configuration), 4 unexpected failure`;

/** What the CLI prints for a failure: one line, a stable code and what to do, and the exit code. */
export interface CliFailure {
  code: string;
  message: string;
  hint: string;
  exit: number;
}

/** Hints for the domain codes an operator meets at the terminal (others get the generic one). */
const HINTS: Record<string, string> = {
  LICENSE_NOT_FOUND: "check the id or key: `smstats license list --email OWNER` lists licenses",
  INSTANCE_NOT_FOUND: "check the id: `smstats instance list --search ID|HWID|EMAIL` finds instances",
  EXPIRY_INVALID: "give --days N (N > 0) or --expires with a future ISO date",
  CURSOR_INVALID: "start again without --cursor",
};

function pendingMigrationsHint(): string {
  try {
    const names = loadMigrations(postgresMigrationsDir).map(
      (m) => `${String(m.version).padStart(4, "0")}_${m.name}`,
    );
    return `run \`npm run migrate\` (applies licensing/migrations ${names[0]}…${names.at(-1)} and ClickHouse's)`;
  } catch {
    return "run `npm run migrate`";
  }
}

/**
 * Maps any error a command threw to one line. `command` is the words typed (e.g. "license issue") for the
 * usage hint.
 */
export function describeFailure(err: unknown, command: string): CliFailure {
  const help = `see \`smstats ${command} --help\``.replace("smstats  --help", "smstats --help");
  if (err instanceof UsageError) {
    const reason =
      err.message.split("\n").find((l) => l.trim() !== "" && !/^\s/.test(l)) ??
      `\`smstats ${command}\` was given arguments it does not take`;
    return { code: err.code, message: reason, hint: help, exit: EXIT.usage };
  }
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const message = (typeof e.message === "string" ? e.message : String(err)).split("\n")[0] ?? "";
  if (code.startsWith("ERR_PARSE_ARGS")) {
    const unknown = code === "ERR_PARSE_ARGS_UNKNOWN_OPTION";
    return {
      code: unknown ? "ARGUMENT_UNKNOWN" : "ARGUMENTS_INVALID",
      message: message.replace(/\. To specify a positional argument.*$/, ""),
      hint: help,
      exit: EXIT.usage,
    };
  }
  // PostgreSQL: a missing table or column (42P01, 42703) or database (3D000) means the schema is behind.
  if (code === "42P01" || code === "42703" || code === "3D000" || code === "42883") {
    return {
      code: "NOT_MIGRATED",
      message: `the PostgreSQL schema is not migrated (${message})`,
      hint: pendingMigrationsHint(),
      exit: EXIT.notReady,
    };
  }
  if (code === "CONFIG_INVALID") {
    const roleMissing = message.includes("role configured");
    return {
      code: roleMissing ? "NOT_MIGRATED" : "CONFIG_INVALID",
      message,
      hint: roleMissing ? pendingMigrationsHint() : "fix the SMSTATS_* variable named above",
      exit: EXIT.notReady,
    };
  }
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ETIMEDOUT" || code === "28P01") {
    return {
      code: code === "28P01" ? "STORE_AUTH_FAILED" : "STORE_UNAVAILABLE",
      message,
      hint:
        code === "28P01"
          ? "the role's password changed: run `npm run migrate` or set SMSTATS_POSTGRES_WRITE_URL"
          : "start the stack (`npm run stack:up`) or check SMSTATS_POSTGRES_URL / SMSTATS_REDIS_URL",
      exit: EXIT.notReady,
    };
  }
  if (e.name === "LicensingError" || e.name === "WebhookError" || e.name === "PaymentsError") {
    return { code, message, hint: HINTS[code] ?? help, exit: EXIT.refused };
  }
  if (/^[A-Z][A-Z0-9_]+$/.test(code)) {
    return { code, message, hint: HINTS[code] ?? help, exit: EXIT.refused };
  }
  return {
    code: "INTERNAL",
    message: `${message}${code ? ` (${code})` : ""}`,
    hint: "this is a bug or an unexpected state of the stack; rerun with NODE_DEBUG=smstats for the trace",
    exit: EXIT.internal,
  };
}

/** The printed line: `smstats: CODE: message — hint`. */
export function failureLine(f: CliFailure): string {
  return `smstats: ${f.code}: ${f.message} — ${f.hint}`;
}
