import { type FormEvent, useCallback, useEffect, useState } from "react";
import type { OfflineLicenseFile, PortalDevice, PortalLicense } from "../../../licensing/portal/index.ts";
import type { Deactivation } from "../../../licensing/seats/licensing-service.ts";
import { api, errorText, setCsrfToken, when } from "../shared/api.ts";
import { Outcome } from "../shared/outcome.tsx";

function SignIn(props: { onSignedIn: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      const r = await api<{ csrf_token: string }>("POST", "/v1/portal/session", { license_key: key });
      setCsrfToken(r.csrf_token);
      props.onSignedIn();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <main className="signin">
      <div className="panel">
        <h1>SongMartyn license portal</h1>
        <form onSubmit={submit}>
          <label>
            License key
            <input
              name="license_key"
              autoComplete="off"
              value={key}
              onChange={(e) => setKey(e.target.value)}
              placeholder="SM-…"
            />
          </label>
          <button type="submit">Sign in</button>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
        </form>
      </div>
    </main>
  );
}

/** Saves a JSON document as a file download. */
function download(name: string, value: unknown) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(value, null, 2)], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The portal: the license, its devices, deactivation and offline license files. */
export function Portal() {
  const [signedIn, setSignedIn] = useState<boolean | undefined>(undefined);
  const [license, setLicense] = useState<PortalLicense | null>(null);
  const [devices, setDevices] = useState<PortalDevice[]>([]);
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  const load = useCallback(async () => {
    const [l, d] = await Promise.all([
      api<PortalLicense>("GET", "/v1/portal/license"),
      api<PortalDevice[]>("GET", "/v1/portal/devices"),
    ]);
    setLicense(l);
    setDevices(d);
  }, []);
  useEffect(() => {
    api<{ csrf_token: string }>("GET", "/v1/portal/session")
      .then((s) => {
        setCsrfToken(s.csrf_token);
        setSignedIn(true);
      })
      .catch(() => setSignedIn(false));
  }, []);
  useEffect(() => {
    if (signedIn) load().catch((e) => setError(errorText(e)));
  }, [signedIn, load]);
  if (signedIn === undefined) return <main>Loading…</main>;
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const deactivate = async (id: string) => {
    setError("");
    try {
      const r = await api<Deactivation>("POST", `/v1/portal/devices/${id}/deactivate`);
      setNote(`Device deactivated; ${r.transfers_left} transfers left this month.`);
      await load();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const offline = async (id: string) => {
    setError("");
    try {
      const file = await api<OfflineLicenseFile>("GET", `/v1/portal/devices/${id}/offline-license`);
      download(`smstats-offline-${id}.json`, file);
      setNote(`Offline license saved; valid until ${when(file.lease_expires_at)}.`);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const signOut = async () => {
    await api("POST", "/v1/portal/session/end").catch(() => undefined);
    setSignedIn(false);
    setLicense(null);
  };
  return (
    <>
      <header className="top">
        <h1>SongMartyn license portal</h1>
        <div className="who">
          <button type="button" className="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>
        {license && (
          <section className="panel" aria-labelledby="license-title">
            <h2 id="license-title">
              {license.tier_name} license <span className="mono">{license.key_hint}</span>
            </h2>
            <table>
              <tbody>
                <tr>
                  <th scope="row">State</th>
                  <td>{license.revoked ? "revoked" : "active"}</td>
                </tr>
                <tr>
                  <th scope="row">Expires</th>
                  <td>{when(license.expires_at)}</td>
                </tr>
                <tr>
                  <th scope="row">Seats used</th>
                  <td data-testid="seats">
                    {license.seats_used} of {license.seats_max}
                  </td>
                </tr>
                <tr>
                  <th scope="row">Transfers this month</th>
                  <td>
                    {license.transfers_used} of {license.transfers_max}
                  </td>
                </tr>
                <tr>
                  <th scope="row">Features</th>
                  <td>{license.features.join(", ") || "—"}</td>
                </tr>
                <tr>
                  <th scope="row">Limits</th>
                  <td>
                    {Object.entries(license.limits)
                      .map(([k, v]) => `${k}: ${v ?? "unlimited"}`)
                      .join(", ")}
                  </td>
                </tr>
              </tbody>
            </table>
          </section>
        )}
        <section>
          <h2>Devices</h2>
          <table data-testid="devices">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Platform</th>
                <th scope="col">Version</th>
                <th scope="col">Country</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {devices.map((d) => (
                <tr key={d.instance_id} data-instance-id={d.instance_id}>
                  <td className="mono">{d.instance_id}</td>
                  <td>{d.platform ?? "—"}</td>
                  <td>{d.version ?? "—"}</td>
                  <td>{d.country || "—"}</td>
                  <td>{when(d.last_heartbeat_at)}</td>
                  <td>
                    <button type="button" className="secondary" onClick={() => offline(d.instance_id)}>
                      Offline license
                    </button>{" "}
                    <button type="button" className="danger" onClick={() => deactivate(d.instance_id)}>
                      Deactivate
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {devices.length === 0 && <p>No device holds a seat of this license.</p>}
          <Outcome note={note} error={error} />
        </section>
      </main>
    </>
  );
}
