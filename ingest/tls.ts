import { readFileSync } from "node:fs";
import type { SecureServerOptions } from "node:http2";
import { type Config, ConfigError } from "../lib/config/index.ts";

/**
 * The options ingest serves HTTPS with: the configured certificate and key, TLS 1.3 at least (instances
 * are our own SDK, which speaks it; nothing older needs to be accepted). Undefined serves plain HTTP.
 * An unreadable file stops the process at start with the file named.
 */
export function ingestHttpsOptions(
  tls: Config["ingest"]["tls"],
  read: (path: string) => Buffer = readFileSync,
): Pick<SecureServerOptions, "cert" | "key" | "minVersion"> | undefined {
  if (!tls) return undefined;
  const pem = (path: string, name: string) => {
    try {
      return read(path);
    } catch (err) {
      throw new ConfigError(`invalid configuration: ${name} ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  return {
    cert: pem(tls.certFile, "SMSTATS_INGEST_TLS_CERT_FILE"),
    key: pem(tls.keyFile, "SMSTATS_INGEST_TLS_KEY_FILE"),
    minVersion: "TLSv1.3",
  };
}
