import { clickhouseCode } from "./unknown-status.ts";

/**
 * ClickHouse error codes that mean "these rows can never be stored as they are": the data is wrong for
 * the table, so retrying the same rows fails the same way. Anything else (connection refused, timeout,
 * memory limit, too many parts, a missing table) is the server's state and is retried with backoff.
 * Names as in ClickHouse's ErrorCodes.cpp.
 */
const DATA_ERROR_CODES: Readonly<Record<string, string>> = {
  "6": "CANNOT_PARSE_TEXT",
  "26": "CANNOT_PARSE_QUOTED_STRING",
  "27": "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
  "38": "CANNOT_PARSE_DATE",
  "41": "CANNOT_PARSE_DATETIME",
  "53": "TYPE_MISMATCH",
  "69": "ARGUMENT_OUT_OF_BOUND",
  "70": "CANNOT_CONVERT_TYPE",
  "72": "CANNOT_PARSE_NUMBER",
  "117": "INCORRECT_DATA",
  "131": "TOO_LARGE_STRING_SIZE",
  "190": "SIZES_OF_ARRAYS_DOESNT_MATCH",
  "321": "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
  "349": "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
};

/** Why ClickHouse refused rows for their data: the server's code and message, for the dead letter. */
export interface Refusal {
  code: string;
  name: string;
  message: string;
}

/**
 * The refusal an insert error stands for, or undefined when the error is not about the data (the
 * server is away, slow or overloaded) and the insert should simply be tried again later. Pure.
 */
export function insertRefusal(err: unknown): Refusal | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = clickhouseCode(err) ?? "";
  const name = DATA_ERROR_CODES[code];
  if (!name) return undefined;
  return { code, name, message: err.message.replace(/\s+/g, " ").trim() };
}

/** The one-line text a dead letter carries for a refusal. */
export function refusalDetail(r: Refusal): string {
  return `ClickHouse code ${r.code} (${r.name}): ${r.message}`;
}
