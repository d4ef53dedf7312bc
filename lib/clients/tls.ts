import { readFileSync } from "node:fs";
import { Agent as HttpsAgent } from "node:https";
import type { ConnectionOptions } from "node:tls";
import type { ClientTls } from "../config/index.ts";

/** Reads a PEM file; injected in tests. */
export type ReadPem = (path: string) => Buffer;

const readPem: ReadPem = (path) => readFileSync(path);

/**
 * Node's TLS connection options for one client's settings (undefined when TLS is off): the CA, the client
 * certificate and key read from their files, the server name, and certificate checks on unless insecure.
 * TLS 1.2 is the floor towards stores (managed PostgreSQL and Redis offers still include 1.2).
 */
export function tlsConnectionOptions(
  tls: ClientTls | undefined,
  read = readPem,
): ConnectionOptions | undefined {
  if (!tls?.enabled) return undefined;
  return {
    minVersion: "TLSv1.2",
    rejectUnauthorized: !tls.insecure,
    ...(tls.caFile ? { ca: read(tls.caFile) } : {}),
    ...(tls.certFile ? { cert: read(tls.certFile) } : {}),
    ...(tls.keyFile ? { key: read(tls.keyFile) } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

// libpq's TLS parameters in a URL: node-postgres would let them replace the `ssl` object built here.
const PG_URL_TLS_PARAMS = ["sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "uselibpqcompat"];

/**
 * node-postgres's connection string and `ssl` option for a URL and its TLS settings. With TLS on the
 * server's certificate is checked whatever the URL's sslmode says (libpq's "require" would not check it);
 * SMSTATS_POSTGRES_TLS_INSECURE turns the check off. With TLS off nothing changes (pg's own defaults).
 */
export function pgTlsOptions(
  url: string,
  tls: ClientTls | undefined,
  read = readPem,
): { connectionString: string; ssl?: ConnectionOptions } {
  const ssl = tlsConnectionOptions(tls, read);
  if (!ssl) return { connectionString: url };
  const u = new URL(url);
  for (const p of PG_URL_TLS_PARAMS) u.searchParams.delete(p);
  return { connectionString: u.toString(), ssl };
}

/** ioredis's `tls` option (undefined: plain TCP, unless the URL is rediss://, then system CAs). */
export function redisTlsOptions(tls: ClientTls | undefined, read = readPem): ConnectionOptions | undefined {
  return tlsConnectionOptions(tls, read);
}

/**
 * nats.js's `tls` option: nats.js hands it to tls.connect after the server's INFO, so Node's options
 * apply; it types the PEM contents as text. Undefined keeps nats.js's default (TLS only if the server
 * requires it, with system CAs).
 */
export function natsTlsOptions(
  tls: ClientTls | undefined,
  read = readPem,
):
  | { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string; servername?: string }
  | undefined {
  const o = tlsConnectionOptions(tls, read);
  if (!o) return undefined;
  return {
    rejectUnauthorized: o.rejectUnauthorized ?? true,
    ...(o.ca ? { ca: String(o.ca) } : {}),
    ...(o.cert ? { cert: String(o.cert) } : {}),
    ...(o.key ? { key: String(o.key) } : {}),
    ...(o.servername ? { servername: o.servername } : {}),
  };
}

/**
 * The @clickhouse/client settings for TLS: an https URL and an https.Agent carrying the options (the
 * client's own `tls` option knows only CA, certificate and key, not server name nor insecure).
 */
export function clickhouseTlsOptions(
  url: string,
  tls: ClientTls | undefined,
  maxSockets: number,
  read = readPem,
): { url: string; http_agent?: HttpsAgent } {
  const options = tlsConnectionOptions(tls, read);
  if (!options) return { url };
  return {
    url: url.replace(/^http:/i, "https:"),
    http_agent: new HttpsAgent({ ...options, keepAlive: true, maxSockets }),
  };
}
