/**
 * The usage lines of an area that belong to the command typed: `words` are the words before the first
 * option (e.g. ["admin", "token", "create"]); the longest prefix of them that starts some usage line wins,
 * and a line's indented continuation lines go with it. Falls back to the whole area's usage.
 */
export function helpFor(usage: string, words: string[]): string {
  const prefix = helpFor.commandOf(usage, words);
  const lines = usage.split("\n");
  const out: string[] = [];
  let taking = false;
  for (const line of lines) {
    if (line.trimStart().startsWith("smstats ")) taking = isUnder(line, prefix);
    if (taking) out.push(line);
  }
  return `usage:\n${out.join("\n")}`;
}

/** The longest prefix of `words` that starts at least one usage line (the command the user means). */
helpFor.commandOf = (usage: string, words: string[]): string => {
  const lines = usage.split("\n").filter((l) => l.trimStart().startsWith("smstats "));
  for (let n = words.length; n > 0; n--) {
    const prefix = words.slice(0, n).join(" ");
    if (lines.some((l) => isUnder(l, prefix))) return prefix;
  }
  return words[0] ?? "";
};

function isUnder(line: string, prefix: string): boolean {
  const t = line.trimStart();
  const start = `smstats ${prefix}`;
  return t === start || t.startsWith(`${start} `);
}
