import { type FormEvent, useCallback, useEffect, useState } from "react";
import type { InstanceView } from "../../../licensing/admin/instance-admin.ts";
import { api, errorText, when } from "../shared/api.ts";

/** One instance: identity, seat, bans, and ban / unban with a reason. */
export function InstancePage(props: { id: string; canWrite: boolean }) {
  const [view, setView] = useState<InstanceView | null>(null);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  const load = useCallback(async () => {
    try {
      setView(await api<InstanceView>("GET", `/v1/admin/instances/${props.id}`));
    } catch (err) {
      setError(errorText(err));
    }
  }, [props.id]);
  useEffect(() => {
    load();
  }, [load]);
  const act = async (e: FormEvent, action: "ban" | "unban") => {
    e.preventDefault();
    setError("");
    try {
      await api("POST", `/v1/admin/instances/${props.id}/${action}`, { reason });
      setNote(action === "ban" ? "Instance banned." : "Bans lifted.");
      setReason("");
      await load();
    } catch (err) {
      setError(errorText(err));
    }
  };
  if (!view) return error ? <p className="error">{error}</p> : <p>Loading…</p>;
  return (
    <section>
      <h2>
        Instance <span className="mono">{view.id}</span>
      </h2>
      <div className="grid2">
        <div className="panel">
          <h3>Identity</h3>
          <table>
            <tbody>
              <tr>
                <th scope="row">hwid</th>
                <td className="mono">{view.hwid}</td>
              </tr>
              <tr>
                <th scope="row">Tier</th>
                <td>{view.tier}</td>
              </tr>
              <tr>
                <th scope="row">Version</th>
                <td>{view.version ?? "—"}</td>
              </tr>
              <tr>
                <th scope="row">Platform</th>
                <td>{view.platform ?? "—"}</td>
              </tr>
              <tr>
                <th scope="row">Owner</th>
                <td>{view.owner_email ?? "—"}</td>
              </tr>
              <tr>
                <th scope="row">Registered</th>
                <td>{when(view.registered_at)}</td>
              </tr>
              <tr>
                <th scope="row">Last seen</th>
                <td>{when(view.last_seen_at)}</td>
              </tr>
              <tr>
                <th scope="row">State</th>
                <td data-testid="instance-state">
                  {view.banned ? `banned: ${view.ban_reason ?? ""}` : "not banned"}
                </td>
              </tr>
            </tbody>
          </table>
        </div>
        <div className="panel">
          <h3>License seat</h3>
          {view.seat ? (
            <table>
              <tbody>
                <tr>
                  <th scope="row">License</th>
                  <td className="mono">{view.seat.key_hint}</td>
                </tr>
                <tr>
                  <th scope="row">Activated</th>
                  <td>{when(view.seat.activated_at)}</td>
                </tr>
                <tr>
                  <th scope="row">Last heartbeat</th>
                  <td>{when(view.seat.last_heartbeat_at)}</td>
                </tr>
                <tr>
                  <th scope="row">Fingerprint</th>
                  <td className="mono">{view.seat.fingerprint_digest?.slice(0, 16) ?? "—"}</td>
                </tr>
                <tr>
                  <th scope="row">Components</th>
                  <td>{view.seat.components.join(", ")}</td>
                </tr>
              </tbody>
            </table>
          ) : (
            <p>No live seat (runs as Starter).</p>
          )}
          <h3>Bans</h3>
          {view.bans.length === 0 ? (
            <p>None.</p>
          ) : (
            <ul>
              {view.bans.map((b) => (
                <li key={`${b.kind}:${b.value}`}>
                  {b.kind}: {b.reason} ({b.actor}, {when(b.created_at)})
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      {props.canWrite && (
        <form className="inline" onSubmit={(e) => act(e, view.banned ? "unban" : "ban")}>
          <label>
            Reason
            <input name="reason" required value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
          <button type="submit" className={view.banned ? "secondary" : "danger"}>
            {view.banned ? "Unban" : "Ban instance"}
          </button>
        </form>
      )}
      {note && (
        <p className="note" role="status">
          {note}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
