import { type FormEvent, useCallback, useEffect, useState } from "react";
import type { LicenseDetail, LicenseView } from "../../../licensing/admin/license-admin.ts";
import { api, errorText, query, when } from "../shared/api.ts";

function Activations(props: { id: string }) {
  const [detail, setDetail] = useState<LicenseDetail | null>(null);
  useEffect(() => {
    api<LicenseDetail>("GET", `/v1/admin/licenses/${props.id}`).then(setDetail, () => undefined);
  }, [props.id]);
  if (!detail) return <p>Loading…</p>;
  if (detail.activations.length === 0) return <p>No activations.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Instance</th>
          <th scope="col">Activated</th>
          <th scope="col">Last heartbeat</th>
          <th scope="col">Ended</th>
        </tr>
      </thead>
      <tbody>
        {detail.activations.map((a) => (
          <tr key={a.id}>
            <td>
              <a className="mono" href={`#/instances/${a.instance_id}`}>
                {a.instance_id}
              </a>
            </td>
            <td>{when(a.activated_at)}</td>
            <td>{when(a.last_heartbeat_at)}</td>
            <td>{when(a.deactivated_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Licenses: issue (the key shown once), find by owner, revoke, show activations. */
export function LicensesPage(props: { canWrite: boolean }) {
  const [list, setList] = useState<LicenseView[]>([]);
  const [email, setEmail] = useState("");
  const [issue, setIssue] = useState({ tier: "party_host", owner_email: "", days: "365", max_instances: "" });
  const [issuedKey, setIssuedKey] = useState("");
  const [open, setOpen] = useState("");
  const [revoking, setRevoking] = useState({ id: "", reason: "" });
  const [extending, setExtending] = useState({ id: "", days: "365" });
  const [error, setError] = useState("");
  const load = useCallback(async (owner: string) => {
    try {
      setList(
        await api<LicenseView[]>(
          "GET",
          `/v1/admin/licenses${query({ owner_email: owner.trim(), limit: 50 })}`,
        ),
      );
    } catch (err) {
      setError(errorText(err));
    }
  }, []);
  useEffect(() => {
    load("");
  }, [load]);
  const submitIssue = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      const r = await api<{ key: string; license: LicenseView }>("POST", "/v1/admin/licenses", {
        tier: issue.tier,
        owner_email: issue.owner_email.trim(),
        days: Number(issue.days),
        max_instances: issue.max_instances ? Number(issue.max_instances) : null,
      });
      setIssuedKey(r.key);
      await load(email);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const submitExtend = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("POST", `/v1/admin/licenses/${extending.id}/extend`, { days: Number(extending.days) });
      setExtending({ id: "", days: "365" });
      await load(email);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const submitRevoke = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("POST", `/v1/admin/licenses/${revoking.id}/revoke`, { reason: revoking.reason });
      setRevoking({ id: "", reason: "" });
      await load(email);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <section>
      <h2>Licenses</h2>
      {props.canWrite && (
        <form className="inline" onSubmit={submitIssue} aria-label="Issue a license">
          <label>
            Tier
            <select
              name="tier"
              value={issue.tier}
              onChange={(e) => setIssue({ ...issue, tier: e.target.value })}
            >
              <option value="starter">starter</option>
              <option value="party_host">party_host</option>
              <option value="venue">venue</option>
            </select>
          </label>
          <label>
            Owner email
            <input
              name="owner_email"
              type="email"
              required
              value={issue.owner_email}
              onChange={(e) => setIssue({ ...issue, owner_email: e.target.value })}
            />
          </label>
          <label>
            Days
            <input
              name="days"
              type="number"
              min={1}
              value={issue.days}
              onChange={(e) => setIssue({ ...issue, days: e.target.value })}
              size={5}
            />
          </label>
          <label>
            Seats (blank: tier's)
            <input
              name="max_instances"
              type="number"
              min={1}
              value={issue.max_instances}
              onChange={(e) => setIssue({ ...issue, max_instances: e.target.value })}
              size={4}
            />
          </label>
          <button type="submit">Issue license</button>
        </form>
      )}
      {issuedKey && (
        <p role="status">
          New key (shown once):{" "}
          <span className="key" data-testid="issued-key">
            {issuedKey}
          </span>
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <form
        className="inline"
        aria-label="Find licenses"
        onSubmit={(e) => {
          e.preventDefault();
          load(email);
        }}
      >
        <label>
          Owner email
          <input name="find_email" value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <button type="submit" className="secondary">
          Find
        </button>
      </form>
      <table data-testid="licenses">
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Tier</th>
            <th scope="col">Owner</th>
            <th scope="col">Expires</th>
            <th scope="col">Seats</th>
            <th scope="col">State</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {list.map((l) => (
            <tr key={l.id} data-license-id={l.id}>
              <td className="mono">{l.key_hint}</td>
              <td>{l.tier}</td>
              <td>{l.owner_email}</td>
              <td>{when(l.expires_at)}</td>
              <td>
                {l.seats_used} / {l.max_instances}
              </td>
              <td>
                {l.revoked ? (
                  <span className="badge banned">revoked</span>
                ) : (
                  <span className="badge">active</span>
                )}
              </td>
              <td>
                <button
                  type="button"
                  className="secondary"
                  onClick={() => setOpen(open === l.id ? "" : l.id)}
                >
                  Activations
                </button>{" "}
                {props.canWrite && !l.revoked && (
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => setExtending({ id: l.id, days: "365" })}
                  >
                    Extend
                  </button>
                )}{" "}
                {props.canWrite && !l.revoked && (
                  <button
                    type="button"
                    className="danger"
                    onClick={() => setRevoking({ id: l.id, reason: "" })}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open && (
        <div className="panel">
          <h3>Activations</h3>
          <Activations id={open} />
        </div>
      )}
      {extending.id && (
        <form className="inline panel" onSubmit={submitExtend} aria-label="Extend a license">
          <label>
            Days to add
            <input
              name="extend_days"
              type="number"
              min={1}
              required
              value={extending.days}
              onChange={(e) => setExtending({ ...extending, days: e.target.value })}
            />
          </label>
          <button type="submit">Confirm extend</button>
        </form>
      )}
      {revoking.id && (
        <form className="inline panel" onSubmit={submitRevoke} aria-label="Revoke a license">
          <label>
            Reason for revoking
            <input
              name="revoke_reason"
              required
              value={revoking.reason}
              onChange={(e) => setRevoking({ ...revoking, reason: e.target.value })}
            />
          </label>
          <button type="submit" className="danger">
            Confirm revoke
          </button>
        </form>
      )}
    </section>
  );
}
