export { sqlColumn, sqlIdentifier, sqlNumber, sqlString } from "./escape.ts";
export { splitStatements } from "./split.ts";
