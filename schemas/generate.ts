import { writeFileSync } from "node:fs";
import { SchemaRegistry } from "./registry.ts";
import { generatedTypesFile, renderTypes, typesDrift } from "./render-types.ts";

// Writes TypeScript types for every schema version to generated/telemetry.ts; with --check, exits 1
// when the committed file differs from what the .avsc files produce (generated code never drifts).
// `npm run schemas:check` (check.ts) runs this drift check together with the compatibility check.
const text = renderTypes(new SchemaRegistry().versions);
if (process.argv.includes("--check")) {
  const drift = typesDrift(text);
  if (drift) {
    console.error(drift);
    process.exit(1);
  }
  console.log("generated schema types are up to date");
} else {
  writeFileSync(generatedTypesFile, text);
  console.log(`wrote ${generatedTypesFile}`);
}
