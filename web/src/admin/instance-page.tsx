import { type FormEvent, useCallback, useEffect, useState } from "react";
import type { InstanceError } from "../../../ingest/admin-stats/instance-errors.ts";
import type { SequenceState } from "../../../ingest/sequence/sequence-tracker.ts";
import type { InstanceActivity } from "../../../licensing/admin/instance-activity.ts";
import type { InstanceView } from "../../../licensing/admin/instance-admin.ts";
import { api, errorText, when } from "../shared/api.ts";
import { Outcome } from "../shared/outcome.tsx";

/** GET /v1/admin/instances/{id}/activity. */
type Activity = InstanceActivity & { sequence: SequenceState; recent_errors: InstanceError[] | null };

function ActivityPanels(props: { activity: Activity }) {
  const a = props.activity;
  return (
    <>
      <div className="panel">
        <h3>Activations</h3>
        <table data-testid="activations">
          <thead>
            <tr>
              <th scope="col">License</th>
              <th scope="col">Activated</th>
              <th scope="col">Country</th>
              <th scope="col">Fingerprint</th>
              <th scope="col">Ended</th>
            </tr>
          </thead>
          <tbody>
            {a.activations.map((x) => (
              <tr key={`${x.license_id}-${x.activated_at}`}>
                <td className="mono">{x.key_hint}</td>
                <td>{when(x.activated_at)}</td>
                <td>{x.country || "—"}</td>
                <td>
                  <span className="mono">{x.fingerprint_digest?.slice(0, 12) ?? "—"}</span>{" "}
                  {x.fingerprint_matches_seat === null
                    ? ""
                    : x.fingerprint_matches_seat
                      ? "(matches seat)"
                      : "(differs)"}
                </td>
                <td>{x.deactivated_at ? `${when(x.deactivated_at)} (${x.deactivation_reason})` : "live"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {a.activations.length === 0 && <p>Never activated a license.</p>}
      </div>
      <div className="grid2">
        <div className="panel">
          <h3>Latest leases</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">Issued</th>
                <th scope="col">Until</th>
                <th scope="col">Tier</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {a.leases.map((l) => (
                <tr key={`${l.issued_at}-${l.kid}-${l.reason}`}>
                  <td>{when(l.issued_at)}</td>
                  <td>{when(l.not_after)}</td>
                  <td>{l.tier}</td>
                  <td>{l.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {a.leases.length === 0 && <p>No lease issued.</p>}
        </div>
        <div className="panel">
          <h3>Consent</h3>
          <p>
            {Object.entries(a.consent)
              .map(([family, granted]) => `${family}: ${granted ? "yes" : "no"}`)
              .join(", ") || "none recorded"}
          </p>
          <h3>Sequence</h3>
          <p data-testid="sequence">
            highest batch {a.sequence.highest_seq ?? "—"}, {a.sequence.open_gaps} missing
            {a.sequence.missing_sample.length > 0 &&
              ` (e.g. ${a.sequence.missing_sample.slice(0, 5).join(", ")})`}
          </p>
          <h3>Recent errors (7 d)</h3>
          {a.recent_errors === null ? (
            <p>ClickHouse did not answer.</p>
          ) : a.recent_errors.length === 0 ? (
            <p>None reported.</p>
          ) : (
            <ul data-testid="recent-errors">
              {a.recent_errors.map((e) => (
                <li key={`${e.time}-${e.type}`}>
                  {when(e.time)}: {e.type || "(no type)"} × {e.count}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </>
  );
}

/** GET /v1/erasures/{job} (and the answer of DELETE /v1/admin/instances/{id}/data). */
interface ErasureJob {
  job_id: string;
  status: "pending" | "running" | "done";
  step: string;
  removed: Record<string, number>;
}

/**
 * Privacy rights on one instance: download its export (instances:read), reset its registration for an
 * owner who lost every credential, and erase everything stored about it (instances:write). The erasure
 * asks for the instance id typed again and then follows its job until done.
 */
function PrivacyPanel(props: {
  id: string;
  canWrite: boolean;
  onChange: () => Promise<void>;
  /** Called once the erasure is done: the instance's data is gone, so is the rest of its page. */
  onErased: () => void;
}) {
  const [resetReason, setResetReason] = useState("");
  const [confirmId, setConfirmId] = useState("");
  const [job, setJob] = useState<ErasureJob | null>(null);
  const [note, setNote] = useState("");
  const [error, setError] = useState("");
  const { onErased } = props;
  useEffect(() => {
    if (job?.status === "done") onErased();
    if (!job || job.status === "done") return;
    const timer = setTimeout(async () => {
      try {
        setJob(await api<ErasureJob>("GET", `/v1/erasures/${job.job_id}`));
      } catch (err) {
        setError(errorText(err));
      }
    }, 1000);
    return () => clearTimeout(timer);
  }, [job, onErased]);
  const reset = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      await api("POST", `/v1/admin/instances/${props.id}/reset-registration`, { reason: resetReason });
      setNote("Registration reset: the instance's credentials no longer work; its hwid can register again.");
      setResetReason("");
      await props.onChange();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const erase = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      setJob(await api<ErasureJob>("DELETE", `/v1/admin/instances/${props.id}/data`));
      setConfirmId("");
      setNote("");
    } catch (err) {
      setError(errorText(err));
    }
  };
  const removed = job ? Object.values(job.removed).reduce((a, b) => a + b, 0) : 0;
  return (
    <div className="panel">
      <h3>Privacy</h3>
      {job?.status !== "done" && (
        <p>
          <a href={`/v1/admin/instances/${props.id}/export`} download={`instance-${props.id}.ndjson.gz`}>
            Export all data
          </a>{" "}
          (gzip NDJSON: every row stored about the instance in PostgreSQL and ClickHouse)
        </p>
      )}
      {props.canWrite && !job && (
        <>
          <form className="inline" onSubmit={reset}>
            <label>
              Reason for the reset
              <input required value={resetReason} onChange={(e) => setResetReason(e.target.value)} />
            </label>
            <button type="submit" className="secondary">
              Reset registration
            </button>
          </form>
          <form className="inline" onSubmit={erase}>
            <label>
              Type the instance id to erase it
              <input className="mono" value={confirmId} onChange={(e) => setConfirmId(e.target.value)} />
            </label>
            <button type="submit" className="danger" disabled={confirmId.trim() !== props.id}>
              Erase all data
            </button>
          </form>
        </>
      )}
      {job && (
        <p role="status" data-testid="erasure">
          {job.status === "done"
            ? `Erasure done: ${removed} rows, keys and messages removed. The instance no longer exists.`
            : `Erasure ${job.status}${job.step ? ` (last step done: ${job.step})` : ""}…`}
        </p>
      )}
      <Outcome note={note} error={error} />
    </div>
  );
}

/** One instance: identity, seat, bans, ban / unban with a reason, and its privacy rights. */
export function InstancePage(props: { id: string; canWrite: boolean }) {
  const [view, setView] = useState<InstanceView | null>(null);
  const [activity, setActivity] = useState<Activity | null>(null);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  const [erased, setErased] = useState(false);
  const markErased = useCallback(() => setErased(true), []);
  const load = useCallback(async () => {
    try {
      const [v, a] = await Promise.all([
        api<InstanceView>("GET", `/v1/admin/instances/${props.id}`),
        api<Activity>("GET", `/v1/admin/instances/${props.id}/activity`),
      ]);
      setView(v);
      setActivity(a);
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
  const privacy = (
    <PrivacyPanel id={props.id} canWrite={props.canWrite} onChange={load} onErased={markErased} />
  );
  return (
    <section>
      <h2>
        Instance <span className="mono">{view.id}</span>
        {erased && " (erased)"}
      </h2>
      {!erased && (
        <>
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
        </>
      )}
      {privacy}
      {!erased && activity && <ActivityPanels activity={activity} />}
      <Outcome note={note} error={error} />
    </section>
  );
}
