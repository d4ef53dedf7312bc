#!/usr/bin/env node
// The `smstats` command: loads TypeScript through tsx, then runs cli/main.ts.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
