// RFC 3339 section 5.6 date-time: full-date "T" full-time, where T and Z may be lower case (5.6 NOTE),
// seconds may be 60 (a leap second), fractions have any number of digits and the offset is Z or ±hh:mm.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

const daysIn = (year: number, month: number): number =>
  month === 2
    ? year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31;

/**
 * Milliseconds since the Unix epoch of an RFC 3339 date-time, or undefined when it is not one. A leap
 * second (23:59:60 in UTC) is read as the last millisecond of 23:59:59, so it stays on its own day (the
 * stores keep whole seconds and have no leap seconds). Fractions beyond milliseconds are truncated.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetSign = m[9] === "-" ? -1 : 1;
  const offsetHour = m[10] ? Number(m[10]) : 0;
  const offsetMinute = m[11] ? Number(m[11]) : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60 || offsetHour > 23 || offsetMinute > 59) return undefined;
  const offsetMs = offsetSign * (offsetHour * 60 + offsetMinute) * 60_000;
  const fraction = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, Math.min(second, 59), 0);
  const base = date.getTime() - offsetMs;
  if (second === 60) {
    // A leap second is only ever inserted at 23:59:60 UTC.
    const utc = new Date(base);
    if (utc.getUTCHours() !== 23 || utc.getUTCMinutes() !== 59) return undefined;
    return base + 999;
  }
  return base + fraction;
}

/** Ajv format for `date-time`: exactly what parseRfc3339 reads, so a value the schema passes always parses. */
export const dateTimeFormat = {
  type: "string",
  validate: (text: string): boolean => parseRfc3339(text) !== undefined,
} as const;
