import { type FormEvent, useCallback, useEffect, useState } from "react";
import type { InstancePage as Page } from "../../../licensing/admin/instance-list.ts";
import { api, errorText, query, when } from "../shared/api.ts";

interface Filters {
  q: string;
  tier: string;
  version: string;
  platform: string;
  banned: string;
  seen_after: string;
}

const EMPTY: Filters = { q: "", tier: "", version: "", platform: "", banned: "", seen_after: "" };

/** Instances: search, filters and cursor paging over GET /v1/admin/instances. */
export function InstancesPage() {
  const [form, setForm] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [cursors, setCursors] = useState<string[]>([""]);
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState("");
  const load = useCallback(async (f: Filters, cursor: string) => {
    setError("");
    try {
      setPage(
        await api<Page>(
          "GET",
          `/v1/admin/instances${query({
            q: f.q.trim(),
            tier: f.tier,
            version: f.version.trim(),
            platform: f.platform,
            banned: f.banned,
            seen_after: f.seen_after ? new Date(f.seen_after).toISOString() : undefined,
            cursor,
            limit: 25,
          })}`,
        ),
      );
    } catch (err) {
      setError(errorText(err));
    }
  }, []);
  useEffect(() => {
    load(EMPTY, "");
  }, [load]);
  const search = (e: FormEvent) => {
    e.preventDefault();
    setApplied(form);
    setCursors([""]);
    load(form, "");
  };
  const set = (k: keyof Filters) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  const next = () => {
    if (!page?.next_cursor) return;
    setCursors([...cursors, page.next_cursor]);
    load(applied, page.next_cursor);
  };
  const previous = () => {
    const back = cursors.slice(0, -1);
    setCursors(back);
    load(applied, back[back.length - 1] ?? "");
  };
  return (
    <section>
      <h2>Instances</h2>
      <form className="inline" onSubmit={search} aria-label="Search instances">
        <label>
          Id, hwid or email
          <input name="q" value={form.q} onChange={set("q")} />
        </label>
        <label>
          Tier
          <select name="tier" value={form.tier} onChange={set("tier")}>
            <option value="">any</option>
            <option value="starter">starter</option>
            <option value="party_host">party_host</option>
            <option value="venue">venue</option>
          </select>
        </label>
        <label>
          Version
          <input name="version" value={form.version} onChange={set("version")} size={8} />
        </label>
        <label>
          Platform
          <select name="platform" value={form.platform} onChange={set("platform")}>
            <option value="">any</option>
            <option value="linux">linux</option>
            <option value="windows">windows</option>
            <option value="darwin">darwin</option>
          </select>
        </label>
        <label>
          Banned
          <select name="banned" value={form.banned} onChange={set("banned")}>
            <option value="">any</option>
            <option value="true">banned</option>
            <option value="false">not banned</option>
          </select>
        </label>
        <label>
          Seen since
          <input name="seen_after" type="date" value={form.seen_after} onChange={set("seen_after")} />
        </label>
        <button type="submit">Search</button>
      </form>
      {error && <p className="error">{error}</p>}
      {page && (
        <>
          <table data-testid="instances">
            <thead>
              <tr>
                <th scope="col">Instance</th>
                <th scope="col">Tier</th>
                <th scope="col">Version</th>
                <th scope="col">Platform</th>
                <th scope="col">Owner</th>
                <th scope="col">Registered</th>
                <th scope="col">Last seen</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((i) => (
                <tr key={i.id}>
                  <td>
                    <a className="mono" href={`#/instances/${i.id}`}>
                      {i.id}
                    </a>
                  </td>
                  <td>{i.tier}</td>
                  <td>{i.version ?? "—"}</td>
                  <td>{i.platform ?? "—"}</td>
                  <td>{i.owner_email ?? "—"}</td>
                  <td>{when(i.registered_at)}</td>
                  <td>{when(i.last_seen_at)}</td>
                  <td>
                    {i.banned ? (
                      <span className="badge banned">banned</span>
                    ) : (
                      <span className="badge">ok</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p>
            <button type="button" className="secondary" onClick={previous} disabled={cursors.length < 2}>
              Previous
            </button>{" "}
            <button type="button" className="secondary" onClick={next} disabled={!page.next_cursor}>
              Next
            </button>
          </p>
        </>
      )}
    </section>
  );
}
