export * from "./key-files.ts";
