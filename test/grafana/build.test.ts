import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ALERTS, unescapeDollars } from "../../grafana/alerts.ts";
import { BOARDS } from "../../grafana/boards/index.ts";
import {
  diffProvisioning,
  provisioningDir,
  renderProvisioning,
  writeProvisioning,
} from "../../grafana/build.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("grafana:build", () => {
  it("gives identical files on two builds", () => {
    const a = mkdtempSync(join(tmpdir(), "smstats-grafana-"));
    const b = mkdtempSync(join(tmpdir(), "smstats-grafana-"));
    dirs.push(a, b);
    expect(writeProvisioning(a)).toBe(writeProvisioning(b));
    for (const path of renderProvisioning().keys()) {
      expect(readFileSync(join(a, path), "utf8"), path).toBe(readFileSync(join(b, path), "utf8"));
    }
    expect(diffProvisioning(a)).toEqual([]);
  });

  it("matches the committed grafana/provisioning folder", () => {
    expect(diffProvisioning(provisioningDir)).toEqual([]);
  });

  it("notices a changed or extra file", () => {
    const dir = mkdtempSync(join(tmpdir(), "smstats-grafana-"));
    dirs.push(dir);
    writeProvisioning(dir);
    rmSync(join(dir, "alerting/smstats.yaml"));
    expect(diffProvisioning(dir)).toEqual(["missing: alerting/smstats.yaml"]);
  });

  it("writes one dashboard per board with every panel's queries", () => {
    for (const board of BOARDS) {
      const json = JSON.parse(
        readFileSync(join(provisioningDir, `dashboards/smstats/${board.uid}.json`), "utf8"),
      );
      expect(json.uid).toBe(board.uid);
      expect(json.panels).toHaveLength(board.panels.length);
      const sqls = json.panels.flatMap((p: { targets: { rawSql?: string; expr?: string }[] }) =>
        p.targets.map((t) => t.rawSql ?? t.expr),
      );
      expect(sqls).toEqual(board.panels.flatMap((p) => p.queries.map((q) => ("sql" in q ? q.sql : q.expr))));
    }
  });

  it("provisions every alert rule, with $ escaped for Grafana's environment expansion", () => {
    const file = parse(readFileSync(join(provisioningDir, "alerting/smstats.yaml"), "utf8"));
    const rules = unescapeDollars(file.groups.flatMap((g: { rules: unknown[] }) => g.rules)) as {
      uid: string;
      data: { model: { rawSql?: string; expr?: string } }[];
    }[];
    expect(rules.map((r) => r.uid)).toEqual(ALERTS.map((a) => a.uid));
    for (const [i, rule] of rules.entries()) {
      const model = rule.data[0]?.model;
      expect(model?.rawSql ?? model?.expr).toBe(ALERTS[i]?.query);
    }
  });
});
