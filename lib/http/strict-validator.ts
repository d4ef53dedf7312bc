import { Ajv, type Options } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchema, FastifySchemaCompiler } from "fastify";
import { dateTimeFormat } from "../time/index.ts";
import { validationError } from "./error-handler.ts";
import { HttpErrors } from "./errors.ts";
import { unstorableText } from "./unstorable-text.ts";

function ajvWith(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: false, strict: false, useDefaults: true, ...options });
  addFormats.default(ajv);
  // One reading of RFC 3339 for the whole API: what the schema passes, the code parses (leap seconds too).
  ajv.addFormat("date-time", dateTimeFormat);
  return ajv;
}

/**
 * Fastify's validator compiler, strict: bodies are never coerced (`"platform": true` is refused, not
 * stored as "true") and unknown fields are refused, never removed in silence (Fastify's default Ajv
 * coerces and removes). Path parameters, query strings and headers arrive as text, so they alone are
 * coerced to the schema's types.
 */
export function strictValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const body = ajvWith({ coerceTypes: false, removeAdditional: false, strictNumbers: true });
  const text = ajvWith({ coerceTypes: "array", removeAdditional: false });
  return ({ schema, httpPart }) => {
    const validate = (httpPart === "body" ? body : text).compile(schema as object);
    const part = httpPart ?? "body";
    return (data: unknown) => {
      // Path parameters and query strings reach SQL too: NUL there is a 400, never PostgreSQL's 500.
      // (JSON bodies were checked by their parser, which knows when a walk is needed.)
      const bad = part === "params" || part === "querystring" ? unstorableText(data, part) : undefined;
      if (bad) return { error: new HttpErrors.INVALID_CHARACTER(bad) };
      return validate(data) ? { value: data } : { error: validationError(validate.errors ?? [], part) };
    };
  };
}
