import { type FormEvent, useCallback, useEffect, useState } from "react";
import type { AuditEntry } from "../../../licensing/admin/audit-log.ts";
import { api, errorText, query, when } from "../shared/api.ts";

/** The audit log, filtered by action and target. */
export function AuditPage() {
  const [rows, setRows] = useState<AuditEntry[]>([]);
  const [filter, setFilter] = useState({ action: "", target_id: "" });
  const [error, setError] = useState("");
  const load = useCallback(async (f: { action: string; target_id: string }) => {
    try {
      setRows(
        await api<AuditEntry[]>(
          "GET",
          `/v1/admin/audit${query({ action: f.action.trim(), target_id: f.target_id.trim(), limit: 100 })}`,
        ),
      );
    } catch (err) {
      setError(errorText(err));
    }
  }, []);
  useEffect(() => {
    load({ action: "", target_id: "" });
  }, [load]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    load(filter);
  };
  return (
    <section>
      <h2>Audit log</h2>
      <form className="inline" onSubmit={submit} aria-label="Filter the audit log">
        <label>
          Action
          <input
            name="action"
            value={filter.action}
            onChange={(e) => setFilter({ ...filter, action: e.target.value })}
            placeholder="license.revoke"
          />
        </label>
        <label>
          Target id
          <input
            name="target_id"
            value={filter.target_id}
            onChange={(e) => setFilter({ ...filter, target_id: e.target.value })}
          />
        </label>
        <button type="submit">Filter</button>
      </form>
      {error && <p className="error">{error}</p>}
      <table data-testid="audit">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Changes</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id}>
              <td>{when(r.at)}</td>
              <td>{r.actor}</td>
              <td>{r.action}</td>
              <td className="mono">
                {r.target_type} {r.target_id}
              </td>
              <td className="mono">{JSON.stringify(r.changes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
