import type { Mail } from "./mailer.ts";

// Mail templates: each returns the subject and both bodies (text and HTML) from plain values. HTML
// bodies escape every value; layout is one shared frame.

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

function frame(title: string, body: string): string {
  return `<!doctype html><html><body style="font-family:sans-serif;max-width:640px">
<h2>${escapeHtml(title)}</h2>
${body}
<p style="color:#777;font-size:12px">SongMartyn Stats</p></body></html>`;
}

const day = (d: Date | null) => (d ? d.toISOString().slice(0, 10) : "never");

/** A new license key, sent to the buyer once (only its hash is kept). */
export function newKeyMail(v: { to: string; key: string; tier: string; expiresAt: Date | null }): Mail {
  const subject = `Your SongMartyn ${v.tier} license key`;
  return {
    to: v.to,
    subject,
    text: `Thank you for your purchase.\n\nYour license key (${v.tier}): ${v.key}\nValid until: ${day(v.expiresAt)}\n\nEnter it in SongMartyn under Settings → License. Keep this mail: the key is shown only here.\n`,
    html: frame(
      subject,
      `<p>Thank you for your purchase.</p><p>Your license key (${escapeHtml(v.tier)}):</p>
<p><code style="font-size:18px">${escapeHtml(v.key)}</code></p><p>Valid until: ${day(v.expiresAt)}</p>
<p>Enter it in SongMartyn under Settings → License. Keep this mail: the key is shown only here.</p>`,
    ),
  };
}

/** A license expires in 7 days (no renewal seen yet). */
export function expiringMail(v: { to: string; keyHint: string; tier: string; expiresAt: Date }): Mail {
  const subject = `Your SongMartyn ${v.tier} license expires on ${day(v.expiresAt)}`;
  const line = `Your license ${v.keyHint} (${v.tier}) expires on ${day(v.expiresAt)}. Renew it to keep its features; after that date your instances run as Starter.`;
  return { to: v.to, subject, text: `${line}\n`, html: frame(subject, `<p>${escapeHtml(line)}</p>`) };
}

/** A license was revoked (refund, dispute or an admin). */
export function revokedMail(v: { to: string; keyHint: string; tier: string; reason: string }): Mail {
  const subject = "Your SongMartyn license was revoked";
  const line = `Your license ${v.keyHint} (${v.tier}) was revoked: ${v.reason}. Your instances run as Starter from now on.`;
  return { to: v.to, subject, text: `${line}\n`, html: frame(subject, `<p>${escapeHtml(line)}</p>`) };
}

/** One section of the digest: a heading and label/value rows. */
export interface DigestSection {
  title: string;
  rows: [string, string][];
}

/** The weekly admin digest: sections of figures and one inline chart (PNG, cid "chart"). */
export function digestMail(v: {
  to: string[];
  week: string;
  sections: DigestSection[];
  chart: Buffer;
}): Mail {
  const subject = `SongMartyn weekly digest — ${v.week}`;
  const text = v.sections
    .map((s) => `${s.title}\n${s.rows.map(([k, val]) => `  ${k}: ${val}`).join("\n")}`)
    .join("\n\n");
  const html = v.sections
    .map(
      (s) =>
        `<h3>${escapeHtml(s.title)}</h3><table>${s.rows
          .map(([k, val]) => `<tr><td>${escapeHtml(k)}</td><td><b>${escapeHtml(val)}</b></td></tr>`)
          .join("")}</table>`,
    )
    .join("\n");
  return {
    to: v.to,
    subject,
    text: `${text}\n`,
    html: frame(subject, `<img src="cid:chart" alt="active instances per day" width="600">\n${html}`),
    inline: [{ cid: "chart", filename: "active-instances.png", contentType: "image/png", content: v.chart }],
  };
}
