export { CONSOLE_CSP, consolePages } from "./console-pages.ts";
export { isSafeMethod, sameOrigin, sessionCookieOptions } from "./request-origin.ts";
export { createSessionStore, csrfMatches, type Session, type SessionStore } from "./session-store.ts";
