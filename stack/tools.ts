import type { InstallTarget } from "./install.ts";

/**
 * Command-line tools the test suite needs beside the four servers, installed the same way (Debian
 * packages, only when missing). Nothing here is started.
 */
export const tools: readonly InstallTarget[] = [
  // promtool runs the Prometheus alert rules' unit tests (test/grafana/alerts.test.ts).
  { name: "promtool", binaries: ["promtool"], packages: ["prometheus"] },
  // The Go SDK's tests run under the race detector (test/sdk/go-sdk.test.ts), which needs cgo in the test
  // binary, hence a C compiler and libc headers. Go itself comes with the machine (see sdk/go/README.md).
  { name: "gcc", binaries: ["gcc"], packages: ["gcc", "libc6-dev"] },
  // The console and portal browser tests (test/web/) drive Debian's chromium through playwright-core;
  // Playwright's own browser download is not used.
  { name: "chromium", binaries: ["chromium"], packages: ["chromium"] },
];
