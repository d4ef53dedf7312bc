import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../lib/config/index.ts";
import {
  DEFAULT_SUSPICIOUS_PATTERNS,
  parseSuspiciousPatterns,
} from "../../lib/config/suspicious-patterns.ts";
import { matchSuspicious } from "../../licensing/index.ts";

const compiled = (text: string) =>
  parseSuspiciousPatterns(text).map((p) => ({ ...p, regex: new RegExp(p.pattern, p.flags) }));

describe("suspicious patterns (config)", () => {
  it("parses the defaults, which refuse scanners and flag odd hwids and versions", () => {
    const rules = compiled(DEFAULT_SUSPICIOUS_PATTERNS);
    const names = (fields: Record<string, string>) => matchSuspicious(rules, fields).map((r) => r.name);
    expect(names({ user_agent: "sqlmap/1.7" })).toEqual(["scanner_user_agent"]);
    expect(names({ user_agent: "SongMartyn/1.2.0 (linux)" })).toEqual([]);
    expect(names({ hwid: "aaaaaaaaaaaa" })).toEqual(["repeated_hwid"]);
    expect(names({ hwid: "3f2a9c0d4e5b6a71" })).toEqual([]);
    expect(names({ version: "1.2.0" })).toEqual([]);
    expect(names({ version: "v2.0.1-beta.1" })).toEqual([]);
    expect(names({ version: "'; DROP TABLE" })).toEqual(["not_a_version"]);
  });

  it("refuses a bad entry at start with a clear error", () => {
    for (const bad of [
      "{}",
      '[{"name":"x","field":"user_agent","pattern":"(","action":"flag"}]',
      '[{"name":"x","field":"ip","pattern":"a","action":"flag"}]',
      '[{"name":"x","field":"hwid","pattern":"a","action":"ban"}]',
      '[{"name":"x","field":"hwid","pattern":"a","action":"flag"},{"name":"x","field":"hwid","pattern":"b","action":"flag"}]',
    ]) {
      expect(() => parseSuspiciousPatterns(bad), bad).toThrow();
      expect(() => loadConfig({ SMSTATS_ABUSE_SUSPICIOUS_PATTERNS: bad }), bad).toThrow(ConfigError);
    }
  });
});
