import { checkCompatibility, formatProblems } from "./compat.ts";
import { SchemaRegistry } from "./registry.ts";
import { renderTypes, typesDrift } from "./render-types.ts";

// `npm run schemas:check`: fails (exit 1) when the generated types drifted from the .avsc files or
// when any two versions of a schema cannot read each other's data, printing every problem found.
const registry = new SchemaRegistry();
const drift = typesDrift(renderTypes(registry.versions));
const incompatible = formatProblems(checkCompatibility(registry.versions));
const problems = [...(drift ? [drift] : []), ...incompatible];

if (problems.length > 0) {
  console.error(`schema check failed (${problems.length} problem${problems.length === 1 ? "" : "s"}):`);
  for (const p of problems) console.error(`  - ${p}`);
  if (incompatible.length > 0)
    console.error(
      "Every version must read every other version's data: new fields need a default, fields keep their type, renamed fields need an alias, enums keep their symbols.",
    );
  process.exit(1);
}
const names = new Set(registry.versions.map((v) => v.name)).size;
console.log(
  `schemas ok: generated types up to date; ${registry.versions.length} versions of ${names} schema(s) mutually compatible`,
);
