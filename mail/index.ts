export { createMailer, type Mail, type Mailer } from "./mailer.ts";
export { type DigestSection, digestMail, expiringMail, newKeyMail, revokedMail } from "./templates.ts";
