export { dateTimeFormat, parseRfc3339 } from "./rfc3339.ts";
