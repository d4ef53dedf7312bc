import { ensureK6, K6_VERSION } from "./k6.ts";

// `npm run k6:install`: builds the pinned k6 into .tools/bin unless it is there already.
const path = await ensureK6((line) => console.error(line));
console.log(`k6 ${K6_VERSION} at ${path}`);
