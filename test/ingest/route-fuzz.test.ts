import { randomUUID } from "node:crypto";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { ADMIN_SCOPES } from "../../licensing/admin/admin-tokens.ts";
import {
  bodySha256Hex,
  requestSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";
import { adminToken } from "../licensing/license-client.ts";
import { testIngest } from "../support/app.ts";
import { registerInstance, type TestInstance } from "../support/instance-client.ts";

// A property-based fuzz over EVERY route of the served OpenAPI document: requests are generated from
// each operation's own documented parameters and body (valid ones, ones with a field replaced by an
// arbitrary value, an unknown field, or a NUL), sent with the credentials the operation's security
// names, and every answer must be below 500 and match the response schema documented for its status.

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is walked structurally.
type Json = any;

let app: FastifyInstance;
let deps: IngestDeps;
let doc: Json;
let instance: TestInstance;
let admin: string;
let portal: { cookie: string; csrf: string };
let licenseKey: string;
const operations: { method: string; path: string; op: Json }[] = [];

beforeAll(async () => {
  ({ app, deps } = await testIngest({
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000",
    SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: "1000000",
    SMSTATS_LICENSE_ERRORS_PER_HOUR: "1000000",
    SMSTATS_LICENSE_KEY_GUESSES: "1000000",
    SMSTATS_WEB_PORTAL_SIGNIN_ATTEMPTS: "1000000",
    // The payment and alert intakes are fuzzed configured (unconfigured they answer 503 by design).
    SMSTATS_STRIPE_WEBHOOK_SECRET: "whsec_route_fuzz",
    SMSTATS_LEMONSQUEEZY_WEBHOOK_SECRET: "route-fuzz-lemonsqueezy",
    SMSTATS_ALERTS_INTAKE_TOKEN: "route-fuzz-alerts-intake-token",
  }));
  instance = await registerInstance(app);
  admin = await adminToken(deps.pg, [...ADMIN_SCOPES], "route-fuzz");
  const issued = await app.inject({
    method: "POST",
    url: "/v1/admin/licenses",
    payload: { tier: "venue", owner_email: "fuzz@example.com", days: 30 },
    headers: { authorization: `Bearer ${admin}` },
  });
  expect(issued.statusCode, issued.body).toBe(201);
  licenseKey = issued.json().key;
  doc = (await app.inject({ method: "GET", url: "/docs/openapi.json" })).json();
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, op] of Object.entries(item as Record<string, Json>)) {
      if (["get", "post", "put", "patch", "delete"].includes(method)) operations.push({ method, path, op });
    }
  }
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

/** A fresh license-portal session (the fuzz may sign out or deactivate what it finds). */
async function portalSignIn(): Promise<void> {
  const res = await app.inject({
    remoteAddress: FUZZ_ADDRESS,
    method: "POST",
    url: "/v1/portal/session",
    payload: { license_key: licenseKey },
  });
  expect(res.statusCode, res.body).toBe(200);
  const c = res.cookies.find((x) => x.name === "smstats_portal");
  portal = { cookie: `smstats_portal=${c?.value}`, csrf: res.json().csrf_token };
}

const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: true });
addFormats.default(ajv);
const compiled = new Map<object, ValidateFunction>();
const validatorOf = (schema: object) => {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
};

const oddValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("", "a\u0000b", "\ud800", "x".repeat(5000), "9999-12-31T23:59:60Z", "-1"),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
);

/** Values mostly valid under a JSON Schema (OpenAPI 3.1), small enough to send hundreds of. */
function arbitraryOf(schema: Json, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return fc.jsonValue({ maxDepth: 1 });
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.anyOf || schema.oneOf)
    return fc.oneof(...(schema.anyOf ?? schema.oneOf).map((s: Json) => arbitraryOf(s, depth + 1)));
  const types: string[] = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : ["object"];
  return fc.oneof(...types.map((t) => arbitraryOfType(t, schema, depth)));
}

function arbitraryOfType(type: string, schema: Json, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer":
      return fc.integer({
        min: Math.max(schema.minimum ?? -1e6, Number.MIN_SAFE_INTEGER),
        max: Math.min(schema.maximum ?? 1e6, Number.MAX_SAFE_INTEGER),
      });
    case "number":
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case "string": {
      if (schema.format === "uuid") return fc.uuid();
      if (schema.format === "date-time")
        return fc
          .date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true })
          .map((d) => d.toISOString());
      if (schema.pattern)
        return fc.stringMatching(new RegExp(schema.pattern)).map((s) => s.slice(0, schema.maxLength ?? 64));
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 24, 24) });
    }
    case "array":
      return fc.array(arbitraryOf(schema.items, depth + 1), { maxLength: Math.min(schema.maxItems ?? 3, 3) });
    default: {
      const props = Object.entries((schema.properties ?? {}) as Record<string, Json>);
      const required = new Set<string>(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, s] of props) record[k] = arbitraryOf(s, depth + 1);
      return fc.record(record, { requiredKeys: props.map(([k]) => k).filter((k) => required.has(k)) });
    }
  }
}

/** A value of the schema, then maybe one edit: a leaf replaced, an unknown field added, a NUL put in a string. */
function mutated(schema: Json): fc.Arbitrary<unknown> {
  return fc
    .tuple(arbitraryOf(schema), fc.nat(), fc.constantFrom("none", "replace", "unknown", "nul"), oddValue)
    .map(([value, at, edit, odd]) => {
      if (edit === "none") return value;
      const slots: { parent: Json; key: string | number }[] = [];
      const walk = (node: unknown) => {
        if (node && typeof node === "object")
          for (const [k, v] of Object.entries(node)) {
            slots.push({ parent: node, key: Array.isArray(node) ? Number(k) : k });
            walk(v);
          }
      };
      walk(value);
      if (edit === "unknown" && value && typeof value === "object" && !Array.isArray(value))
        return { ...value, zz_unknown: odd };
      const slot = slots[at % Math.max(slots.length, 1)];
      if (!slot) return edit === "nul" ? "\u0000" : odd;
      if (edit === "nul") {
        const v = slot.parent[slot.key];
        slot.parent[slot.key] = typeof v === "string" ? `${v}\u0000` : "\u0000";
      } else slot.parent[slot.key] = odd;
      return value;
    });
}

let stamp = Date.now();
// The fuzz's failed sign-ins and registrations count against its own address, not the other suites'.
const FUZZ_ADDRESS = "127.0.0.77";

/** The headers the operation's security asks for, signing the request as an instance would. */
function credentials(op: Json, method: string, path: string, payload: string | undefined) {
  const names = new Set((op.security ?? []).flatMap((s: Json) => Object.keys(s)));
  const headers: Record<string, string> = {};
  if (names.has("adminToken")) headers.authorization = `Bearer ${admin}`;
  if (names.has("portalSession") && !names.has("adminToken")) {
    headers.cookie = portal.cookie;
    headers["x-csrf-token"] = portal.csrf;
  }
  if (names.has("instanceToken")) {
    headers.authorization = `Bearer ${instance.token}`;
    stamp = Math.max(stamp + 1, Date.now());
    headers[TIMESTAMP_HEADER] = String(stamp);
    headers[SIGNATURE_HEADER] = requestSignature({
      secret: instance.secret,
      method,
      path,
      timestamp: stamp,
      bodySha256Hex: bodySha256Hex(Buffer.from(payload ?? "")),
    });
  }
  return headers;
}

// Lone surrogates cannot be percent-encoded; they stay in bodies, where the JSON parser meets them.
const asText = (v: unknown): string =>
  (typeof v === "string" ? v : (JSON.stringify(v) ?? "")).replace(/[\ud800-\udfff]/g, "?");

/** A whole request for the operation: path parameters, query string and body, each maybe edited. */
function requestOf({ method, path, op }: { method: string; path: string; op: Json }) {
  const params = (op.parameters ?? []) as Json[];
  const pathParams = params.filter((p) => p.in === "path");
  const query = params.filter((p) => p.in === "query");
  const bodySchema = op.requestBody?.content?.["application/json"]?.schema;
  return fc
    .record({
      path: fc.tuple(...pathParams.map((p) => mutated(p.schema)), fc.constant(0)),
      query: fc.tuple(...query.map((p) => fc.option(mutated(p.schema), { nil: undefined })), fc.constant(0)),
      body: bodySchema ? mutated(bodySchema) : fc.constant(undefined),
    })
    .map(({ path: pv, query: qv, body }) => {
      let url = path;
      pathParams.forEach((p, i) => {
        url = url.replace(`{${p.name}}`, encodeURIComponent(asText(pv[i])));
      });
      const search = new URLSearchParams();
      query.forEach((p, i) => {
        if (qv[i] !== undefined) search.set(p.name, asText(qv[i]));
      });
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = credentials(op, method, url, payload);
      if (payload !== undefined) headers["content-type"] = "application/json";
      const qs = search.toString();
      return { method: method.toUpperCase() as "GET", url: qs ? `${url}?${qs}` : url, payload, headers };
    });
}

/** Whether the answer is one the operation documents: its status (or NXX range) and, for JSON, its schema. */
function checkAnswer(op: Json, res: { statusCode: number; headers: Json; body: string }, label: string) {
  expect(res.statusCode, `${label}: ${res.body}`).toBeLessThan(500);
  const responses = op.responses ?? {};
  const documented =
    responses[String(res.statusCode)] ?? responses[`${String(res.statusCode)[0]}XX`] ?? responses.default;
  expect(documented, `${label}: status ${res.statusCode} is not documented`).toBeDefined();
  const json = documented.content?.["application/json"]?.schema;
  if (!json) return;
  expect(String(res.headers["content-type"]), label).toMatch(/^application\/json/);
  const validate = validatorOf(json);
  expect(validate(JSON.parse(res.body)), `${label}: ${res.body} ${JSON.stringify(validate.errors)}`).toBe(
    true,
  );
}

describe("fuzzing every route of the OpenAPI document", () => {
  it("documents every route, with the security scheme on every authenticated one", () => {
    expect(operations.length).toBeGreaterThan(15);
    const unsecured = operations.filter(
      ({ path, op }) => (path.startsWith("/v1/admin") || path === "/v1/stats/batch") && !op.security,
    );
    expect(unsecured.map((o) => `${o.method} ${o.path}`)).toEqual([]);
    expect(doc.paths["/v1/stats/batch"].post.security).toEqual([
      { instanceToken: [], requestSignature: [], requestTimestamp: [] },
    ]);
    expect(doc.openapi).toMatch(/^3\.1/);
  });

  it("declares additionalProperties on every object of every request body, so unknown fields are refused", () => {
    const open: string[] = [];
    const walk = (schema: Json, where: string) => {
      if (!schema || typeof schema !== "object") return;
      if (schema.properties && schema.additionalProperties === undefined) open.push(where);
      for (const [k, v] of Object.entries(schema.properties ?? {})) walk(v, `${where}.${k}`);
      if (schema.items) walk(schema.items, `${where}[]`);
    };
    for (const { method, path, op } of operations)
      walk(op.requestBody?.content?.["application/json"]?.schema, `${method} ${path} body`);
    expect(open).toEqual([]);
  });

  it("answers every generated request below 500 and within the route's documented responses", async () => {
    const seen = new Map<string, Set<number>>();
    for (const operation of operations) {
      await portalSignIn();
      const label = `${operation.method.toUpperCase()} ${operation.path}`;
      const statuses = new Set<number>();
      seen.set(label, statuses);
      await fc.assert(
        fc.asyncProperty(requestOf(operation), async (req) => {
          const res = await app.inject({ ...req, remoteAddress: FUZZ_ADDRESS });
          statuses.add(res.statusCode);
          checkAnswer(operation.op, res, `${label} ${req.url} ${req.payload?.slice(0, 300) ?? ""}`);
        }),
        { numRuns: 40 },
      );
    }
    // The generator must reach past validation somewhere, or the property says little.
    const succeeded = [...seen.entries()].filter(([, s]) => [...s].some((x) => x < 300));
    expect(succeeded.length).toBeGreaterThan(operations.length / 3);
  }, 120_000);

  it("answers NUL in any string field of any route with 400 and a stable code", async () => {
    let checked = 0;
    await portalSignIn();
    for (const operation of operations) {
      const params = (operation.op.parameters ?? []) as Json[];
      const bodySchema = operation.op.requestBody?.content?.["application/json"]?.schema;
      const stringFields = Object.entries((bodySchema?.properties ?? {}) as Record<string, Json>).filter(
        ([, s]) => [s.type].flat().includes("string"),
      );
      const cases: { url: string; payload?: string }[] = [];
      for (const p of params.filter((x) => x.in === "path"))
        cases.push({ url: operation.path.replace(`{${p.name}}`, "a%00b") });
      for (const p of params.filter((x) => x.in === "query"))
        cases.push({ url: `${operation.path}?${p.name}=a%00b` });
      for (const [name] of stringFields) {
        const base = (fc.sample(arbitraryOf(bodySchema), { numRuns: 1, seed: 7 })[0] ?? {}) as Record<
          string,
          unknown
        >;
        cases.push({ url: operation.path, payload: JSON.stringify({ ...base, [name]: "a\u0000b" }) });
      }
      for (const c of cases) {
        const url = c.url.replace(/\{(\w+)\}/g, () => randomUUID());
        checked++;
        const headers = credentials(operation.op, operation.method.toUpperCase(), url, c.payload);
        if (c.payload) headers["content-type"] = "application/json";
        const res = await app.inject({
          remoteAddress: FUZZ_ADDRESS,
          method: operation.method.toUpperCase() as "GET",
          url,
          payload: c.payload,
          headers,
        });
        expect(res.statusCode, `${operation.method} ${url} ${c.payload}: ${res.body}`).toBe(400);
        expect(res.json().error.code, res.body).toBe("INVALID_CHARACTER");
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});
