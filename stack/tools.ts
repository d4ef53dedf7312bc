import type { InstallTarget } from "./install.ts";

/**
 * Command-line tools the test suite needs beside the four servers, installed the same way (Debian
 * packages, only when missing). Nothing here is started.
 */
export const tools: readonly InstallTarget[] = [
  // promtool runs the Prometheus alert rules' unit tests (test/grafana/alerts.test.ts).
  { name: "promtool", binaries: ["promtool"], packages: ["prometheus"] },
  // The console and portal browser tests (test/web/) drive Debian's chromium through playwright-core;
  // Playwright's own browser download is not used.
  { name: "chromium", binaries: ["chromium"], packages: ["chromium"] },
];
