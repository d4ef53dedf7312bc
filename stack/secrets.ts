import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Passwords of the local stack, generated at the first `up` and kept in `<data>/secrets/`. */
export interface StackSecrets {
  /** Password of the `smstats` Postgres superuser role. */
  postgres: string;
  /** Password of the ClickHouse `smstats` (and loopback-only `default`) user. */
  clickhouse: string;
  /** Password of the read-only ClickHouse `analyst` user. */
  clickhouseAnalyst: string;
  /** Password of the read-only ClickHouse `grafana` user. */
  clickhouseGrafana: string;
  /** Redis `requirepass`. */
  redis: string;
  /**
   * JetStream's encryption-at-rest key (nats.conf `jetstream { cipher: chachapoly, key }`): batches and
   * their headers are unreadable in the store files. Rotation: stack/README.md.
   */
  natsStoreKey: string;
}

// Each secret and the file (<name>.txt) it is kept in.
const files: Record<keyof StackSecrets, string> = {
  postgres: "postgres",
  clickhouse: "clickhouse",
  clickhouseAnalyst: "clickhouse_analyst",
  clickhouseGrafana: "clickhouse_grafana",
  redis: "redis",
  natsStoreKey: "nats_store_key",
};
const names = Object.keys(files) as (keyof StackSecrets)[];

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
    let value = readSecret(dir, files[name]);
    if (value === undefined) {
      value = randomBytes(24).toString("hex");
      writeFileSync(join(dir, `${files[name]}.txt`), `${value}\n`, { mode: 0o600 });
    }
    secrets[name] = value;
  }
  return secrets;
}

/** Reads the passwords without creating any; missing ones are empty (status and down never need to invent them). */
export function readSecrets(dir: string): StackSecrets {
  const secrets = {} as StackSecrets;
  for (const name of names) secrets[name] = readSecret(dir, files[name]) ?? "";
  return secrets;
}
