import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { expect } from "vitest";
import { repoRoot } from "../../lib/config/index.ts";
import { locateOnThisMachine } from "../../stack/binaries.ts";

/** Where the browser tests keep their screenshots (ignored by git). */
export const ARTIFACTS = join(repoRoot, ".data", "artifacts", "web");

/** Debian's chromium (stack/tools.ts installs it), driven by playwright-core; never a downloaded browser. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = locateOnThisMachine("chromium", []);
  if (!executablePath) throw new Error("chromium is not installed; `npm test` installs it (stack/tools.ts)");
  mkdirSync(ARTIFACTS, { recursive: true });
  // No sandbox: the suite may run as root (CI containers), where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

/** A page that fails the test on any Content-Security-Policy violation or uncaught error. */
export async function watchedPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  return { page, problems };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core in the page (evaluated through the DevTools protocol, so the page's CSP still forbids
 * inline scripts of its own) and fails on serious or critical violations.
 */
export async function expectAccessible(page: Page, name: string): Promise<void> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }>;
        };
      }
    ).axe;
    const r = await axe.run();
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 3),
    }));
  });
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious, `${name}: ${JSON.stringify(serious)}`).toEqual([]);
}

/** Saves a full-page screenshot as an artifact. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
