import type { Transporter } from "nodemailer";
import { Counter, type Registry } from "prom-client";

/** A mail ready to send: both bodies, and inline images referenced from the HTML by cid. */
export interface Mail {
  to: string | string[];
  subject: string;
  text: string;
  html: string;
  /** Inline attachments: `<img src="cid:{cid}">` in the HTML. */
  inline?: { cid: string; filename: string; contentType: string; content: Buffer }[];
}

/** Sends mail over SMTP; every send is counted by template and outcome. */
export interface Mailer {
  send(template: string, mail: Mail): Promise<void>;
  close(): void;
}

/** A mailer on an SMTP URL (nodemailer), e.g. the local sink in development and tests. */
export function createMailer(opts: { smtpUrl: string; from: string; metrics?: Registry }): Mailer {
  // nodemailer is loaded at the first mail (~15 MB resident that ingest need not carry until then).
  let transport: Promise<Transporter> | undefined;
  const connect = () => {
    transport ??= import("nodemailer").then(({ default: nodemailer }) =>
      nodemailer.createTransport(opts.smtpUrl),
    );
    return transport;
  };
  const sent = new Counter({
    name: "smstats_mail_total",
    help: "Mails sent, by template and outcome (sent, error).",
    labelNames: ["template", "outcome"],
    registers: opts.metrics ? [opts.metrics] : [],
  });
  return {
    async send(template, mail) {
      try {
        await (await connect()).sendMail({
          from: opts.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          attachments: (mail.inline ?? []).map((a) => ({
            cid: a.cid,
            filename: a.filename,
            contentType: a.contentType,
            content: a.content,
          })),
        });
        sent.inc({ template, outcome: "sent" });
      } catch (err) {
        sent.inc({ template, outcome: "error" });
        throw err;
      }
    },
    close() {
      void transport?.then((t) => t.close());
    },
  };
}
