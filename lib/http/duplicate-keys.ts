/** Index of the quote closing the string opened at `open`: the next one not escaped by an odd run of backslashes; -1 if none. */
function closingQuote(text: string, open: number): number {
  let end = open;
  for (;;) {
    end = text.indexOf('"', end + 1);
    if (end < 0) return -1;
    let slashes = 0;
    while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
    if (slashes % 2 === 0) return end;
  }
}

/**
 * The first key that appears twice in one object of a JSON text, or undefined. JSON.parse keeps the
 * last of two equal keys without a word, so a body could say one thing to a reader and another to us.
 * Run it on text JSON.parse accepted: it walks the text once and only decodes keys that hold escapes.
 */
export function duplicateKey(text: string): string | undefined {
  // One set of keys per open object; undefined marks an open array.
  const stack: (Set<string> | undefined)[] = [];
  // Whether the next string in the innermost object is a key.
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i + 1;
      const end = closingQuote(text, i);
      if (end < 0) return undefined;
      i = end;
      const keys = stack[stack.length - 1];
      if (expectKey && keys) {
        const raw = text.slice(start, i);
        const key = raw.includes("\\") ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(undefined);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] !== undefined;
    }
  }
  return undefined;
}

/** Strings in key position in a JSON text JSON.parse accepted: those followed (past blanks) by a colon. */
function keysInText(text: string): number {
  let keys = 0;
  let i = text.indexOf('"');
  while (i >= 0) {
    const end = closingQuote(text, i);
    if (end < 0) return keys;
    let j = end + 1;
    let c = text.charCodeAt(j);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++j);
    if (c === 0x3a /* : */) keys++;
    i = text.indexOf('"', j);
  }
  return keys;
}

/** Own keys of every object in a parsed JSON value. */
function keysInValue(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let keys = 0;
  if (Array.isArray(value)) {
    for (const v of value) keys += keysInValue(v);
    return keys;
  }
  for (const k in value) {
    keys++;
    keys += keysInValue((value as Record<string, unknown>)[k]);
  }
  return keys;
}

/**
 * duplicateKey for a text and the value JSON.parse made of it, cheaper on the common case: when the text
 * has as many keys as the value's objects hold, no key was repeated (JSON.parse keeps one per name), so
 * no set of keys is built. Otherwise (a repeat, or keys the parser was told to drop) the full walk names
 * the repeated key, or finds none.
 */
export function duplicateKeyIn(text: string, parsed: unknown): string | undefined {
  if (keysInText(text) === keysInValue(parsed)) return undefined;
  return duplicateKey(text);
}
