/**
 * Where a parsed value holds text no store of ours can keep: NUL (PostgreSQL refuses it in text, error
 * 22021) or a lone UTF-16 surrogate (not encodable as UTF-8). Returns a short description such as
 * `body.song.title contains NUL`, or undefined when every string and key is clean. Keys count too:
 * they become map keys and column values.
 */
export function unstorableText(value: unknown, path = "body"): string | undefined {
  // The hot path (every Avro batch) is clean text: a walk that builds no path strings answers that,
  // and only a value holding a problem is walked again to name where.
  return isStorable(value) ? undefined : locate(value, path);
}

// Whether every string and key is clean; allocates nothing for plain objects, arrays and strings.
function isStorable(value: unknown): boolean {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isStorable(value[i])) return false;
    return true;
  }
  if (value && typeof value === "object" && !Buffer.isBuffer(value)) {
    // Own keys only, and not for…in: decoded Avro records inherit enumerable methods from their class.
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (!storableText(key) || !isStorable(record[key])) return false;
    }
  }
  return true;
}

// Any surrogate at all is rare in telemetry text: the lookaround regex runs only when one is present.
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const storableText = (text: string) =>
  !text.includes("\u0000") && !(ANY_SURROGATE.test(text) && LONE_SURROGATE.test(text));

function locate(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return textProblem(value, path);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = locate(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === "object" && !Buffer.isBuffer(value)) {
    for (const [key, v] of Object.entries(value)) {
      const found = textProblem(key, `${path} key ${JSON.stringify(key.slice(0, 40))}`);
      if (found) return found;
      const inner = locate(v, `${path}.${key.slice(0, 40)}`);
      if (inner) return inner;
    }
  }
  return undefined;
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// In JSON text NUL and surrogates can only come as \u escapes (raw control characters are invalid
// JSON, and UTF-8 decoding never yields a lone surrogate), so text without one needs no walk.
const SUSPECT_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

/** unstorableText for a value parsed from `json`: skips the walk when the text cannot hold such a character. */
export function unstorableJson(json: string, value: unknown): string | undefined {
  return SUSPECT_ESCAPE.test(json) ? unstorableText(value) : undefined;
}

function textProblem(text: string, path: string): string | undefined {
  if (text.includes("\u0000")) return `${path} contains NUL`;
  if (LONE_SURROGATE.test(text)) return `${path} contains a lone UTF-16 surrogate`;
  return undefined;
}
