import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Passwords of the local stack, generated at the first `up` and kept in `<data>/secrets/`. */
export interface StackSecrets {
  /** Password of the `smstats` Postgres superuser role. */
  postgres: string;
  /** Password of the ClickHouse `smstats` (and loopback-only `default`) user. */
  clickhouse: string;
  /** Redis `requirepass`. */
  redis: string;
}

const names = ["postgres", "clickhouse", "redis"] as const;

function readSecret(dir: string, name: string): string | undefined {
  try {
    const value = readFileSync(join(dir, `${name}.txt`), "utf8").trim();
    return value === "" ? undefined : value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Reads the passwords, generating any that is missing (hex, so they need no escaping in URLs or configs). */
export function ensureSecrets(dir: string): StackSecrets {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir leaves an existing folder's mode alone; the secrets must not be readable by others.
  chmodSync(dir, 0o700);
  const secrets = {} as StackSecrets;
  for (const name of names) {
    let value = readSecret(dir, name);
    if (value === undefined) {
      value = randomBytes(24).toString("hex");
      writeFileSync(join(dir, `${name}.txt`), `${value}\n`, { mode: 0o600 });
    }
    secrets[name] = value;
  }
  return secrets;
}

/** Reads the passwords without creating any; missing ones are empty (status and down never need to invent them). */
export function readSecrets(dir: string): StackSecrets {
  return {
    postgres: readSecret(dir, "postgres") ?? "",
    clickhouse: readSecret(dir, "clickhouse") ?? "",
    redis: readSecret(dir, "redis") ?? "",
  };
}
