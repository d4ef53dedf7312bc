// Shared by every k6 scenario: target and data from the environment, registration, request signing,
// the batch and licensing calls, threshold overrides and the JSON summary. Runs inside k6 (goja), not Node.
import { check, fail } from "k6";
import crypto from "k6/crypto";
import { SharedArray } from "k6/data";
import encoding from "k6/encoding";
import exec from "k6/execution";
import http from "k6/http";
import { Counter } from "k6/metrics";

/** Base URL of ingest; the runner refuses anything but loopback, and so does this check. */
export const BASE_URL = __ENV.SM_BASE_URL || "http://127.0.0.1:8080";
if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(BASE_URL)) {
  throw new Error(`SM_BASE_URL must be a loopback http URL, got ${BASE_URL}`);
}
const RUN_ID = __ENV.SM_RUN_ID || String(Date.now());

/**
 * The simulated fleet, written by the runner (loadtest/prepare.ts): instances (hwid, tier, platform,
 * version, ip, first, count) and JSON bodies with the placeholders __INSTANCE__, __BATCH__ and "__SEQ__".
 */
export const instances = new SharedArray("instances", () => JSON.parse(open(__ENV.SM_FLEET_FILE)).instances);
export const bodies = new SharedArray("bodies", () => JSON.parse(open(__ENV.SM_FLEET_FILE)).bodies);

const json = { "content-type": "application/json" };
/** Batches ingest answered 202: what must show up in ClickHouse. */
const accepted = new Counter("batches_accepted");

/**
 * Registers a simulated instance and returns its credentials. A known hwid is given back only with proof
 * of possession, which a run does not keep from the last, so each run (and each copy of a simulated
 * instance in it) registers an hwid of its own: the simulator's, the run id and the copy's index.
 */
export function register(sim, copy = 0) {
  const hwid = `${sim.hwid}-${RUN_ID}-${copy}`.slice(0, 64);
  const res = http.post(
    `${BASE_URL}/v1/instances/register`,
    JSON.stringify({
      hwid,
      platform: sim.platform,
      version: sim.version,
      consent: { quality: true, playback: true, session: true, library: true },
    }),
    { headers: { ...json, "x-forwarded-for": sim.ip }, tags: { endpoint: "register" } },
  );
  if (!check(res, { "register 201": (r) => r.status === 201 })) return null;
  const b = res.json();
  return {
    sim,
    hwid,
    id: b.instance_id,
    token: b.instance_token,
    refresh: b.refresh_token,
    // Kept as text: setup() data reaches the VUs as JSON, which would turn an ArrayBuffer into {}.
    secret: b.signing_secret,
  };
}

/** Registers instances in setup(); fails the run when none could register (the target is not ingest). */
export function registerAll(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = register(instances[i % instances.length], i);
    if (c) out.push(c);
  }
  if (out.length === 0) fail("no instance could register: is ingest running at SM_BASE_URL?");
  return out;
}

/** Renews an instance's tokens (POST /v1/auth/refresh); a refresh token is single-use, so it is replaced. */
export function refresh(cred) {
  const res = http.post(`${BASE_URL}/v1/auth/refresh`, JSON.stringify({ refresh_token: cred.refresh }), {
    headers: json,
    tags: { endpoint: "refresh" },
  });
  if (check(res, { "refresh 200": (r) => r.status === 200 })) {
    const b = res.json();
    cred.token = b.instance_token;
    cred.refresh = b.refresh_token;
  }
  return res;
}

let lastTimestamp = 0;
const secrets = {};

function secretBytes(cred) {
  if (!secrets[cred.secret]) secrets[cred.secret] = encoding.b64decode(cred.secret, "rawurl");
  return secrets[cred.secret];
}

/** Headers of a request signed as README "Authentication" describes: HMAC-SHA256 over method, path, ms, body digest. */
export function signedHeaders(cred, path, body) {
  // Strictly increasing per VU, so two requests in one millisecond still differ.
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  const ts = String(lastTimestamp);
  const canonical = `POST\n${path}\n${ts}\n${crypto.sha256(body, "hex")}`;
  return {
    ...json,
    authorization: `Bearer ${cred.token}`,
    "x-sm-timestamp": ts,
    "x-sm-signature": crypto.hmac("sha256", secretBytes(cred), canonical, "base64rawurl"),
    "x-forwarded-for": cred.sim.ip,
  };
}

/** Posts body `index` as the given instance, with a batch id unique to this run and the given seq. */
export function postBatch(cred, index, seq) {
  const body = bodies[index % bodies.length]
    .replace("__INSTANCE__", cred.id)
    .replace("__BATCH__", `lt-${RUN_ID}-${exec.vu.idInTest}-${exec.vu.iterationInInstance}`)
    .replace('"__SEQ__"', String(seq));
  const path = "/v1/stats/batch";
  const res = http.post(`${BASE_URL}${path}`, body, {
    headers: signedHeaders(cred, path, body),
    tags: { endpoint: "batch" },
  });
  if (check(res, { "batch 202": (r) => r.status === 202 })) accepted.add(1);
  return res;
}

/** A signed licensing call (POST /v1/auth/validate and /v1/auth/heartbeat). */
export function licensingCall(cred, path, payload, endpoint) {
  const body = JSON.stringify({ instance_id: cred.id, hwid: cred.hwid, ...payload });
  const res = http.post(`${BASE_URL}${path}`, body, {
    headers: signedHeaders(cred, path, body),
    tags: { endpoint },
  });
  check(res, { [`${endpoint} 200`]: (r) => r.status === 200 });
  return res;
}

/** A fresh nonce per request (base64url, ≥ 16 characters), as the licensing API requires. */
const nonce = () => `n${RUN_ID}-${exec.vu.idInTest}-${exec.vu.iterationInInstance}-${Date.now()}`;

/** The instance's machine fingerprint: hashed components derived from its simulated hwid. */
const fingerprint = (cred) => ({
  machine_id: crypto.sha256(`machine_id:${cred.hwid}`, "hex"),
  mac: crypto.sha256(`mac:${cred.hwid}`, "hex"),
  disk: crypto.sha256(`disk:${cred.hwid}`, "hex"),
  hostname: crypto.sha256(`hostname:${cred.hwid}`, "hex"),
});

/** POST /v1/auth/validate without a key: the instance's own seat, or Starter. */
export const validate = (cred) =>
  licensingCall(cred, "/v1/auth/validate", { nonce: nonce(), fingerprint: fingerprint(cred) }, "validate");
/** POST /v1/auth/heartbeat: keeps the seat, answers continue and the next heartbeat time. */
export const heartbeat = (cred) =>
  licensingCall(cred, "/v1/auth/heartbeat", { nonce: nonce(), fingerprint: fingerprint(cred) }, "heartbeat");

/**
 * A scenario's thresholds plus the runner's extra ones (SM_EXTRA_THRESHOLDS, JSON {metric: [expr]}), e.g.
 * an impossible p95 to show a run failing on its thresholds.
 */
export function thresholds(base) {
  const extra = __ENV.SM_EXTRA_THRESHOLDS ? JSON.parse(__ENV.SM_EXTRA_THRESHOLDS) : {};
  // Every scenario sends batches: a run in which none went out (say, every iteration threw) must fail.
  const out = { "http_reqs{endpoint:batch}": ["count>0"], ...base };
  for (const [metric, exprs] of Object.entries(extra)) out[metric] = [...(out[metric] || []), ...exprs];
  return out;
}

/** Trend statistics in every summary (k6 leaves p(99) out by default). */
export const summaryTrendStats = ["avg", "min", "med", "p(90)", "p(95)", "p(99)", "max", "count"];

/** A duration or rate from the environment, bounded so no run can be made unbounded by mistake. */
export function bounded(name, fallback, max) {
  const v = __ENV[name] ? Number(__ENV[name]) : fallback;
  if (!(v > 0) || v > max) throw new Error(`${name} must be in (0, ${max}], got ${__ENV[name]}`);
  return v;
}

function fmt(v) {
  return typeof v === "number" ? (Math.round(v * 100) / 100).toString() : String(v);
}

/** Writes the whole k6 summary as JSON to SM_SUMMARY_FILE and prints each threshold's verdict. */
export function handleSummary(data) {
  const lines = [
    `scenario ${__ENV.SM_SCENARIO || "?"}: ${data.metrics.iterations?.values.count ?? 0} iterations`,
  ];
  for (const [name, m] of Object.entries(data.metrics)) {
    if (!m.thresholds) continue;
    for (const [expr, t] of Object.entries(m.thresholds)) {
      const values = Object.entries(m.values)
        .map(([k, v]) => `${k}=${fmt(v)}`)
        .join(" ");
      lines.push(`  ${t.ok ? "ok  " : "FAIL"} ${name} ${expr}   (${values})`);
    }
  }
  const out = { stdout: `${lines.join("\n")}\n` };
  if (__ENV.SM_SUMMARY_FILE) out[__ENV.SM_SUMMARY_FILE] = JSON.stringify(data, null, 2);
  return out;
}
