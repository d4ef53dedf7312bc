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
      // The closing quote is the next one not escaped by an odd run of backslashes.
      const start = i + 1;
      let end = start - 1;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return undefined;
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
      }
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
