import { type FormEvent, useState } from "react";
import { api, errorText } from "../shared/api.ts";
import type { AdminSession } from "./app.tsx";

/** Sign-in with an admin token; the token goes to the server once and lives on as a session cookie. */
export function SignIn(props: { onSignedIn: (s: AdminSession) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      props.onSignedIn(await api<AdminSession>("POST", "/v1/admin/session", { token: token.trim() }));
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <main className="signin">
      <div className="panel">
        <h1>SongMartyn Stats admin console</h1>
        <form onSubmit={submit}>
          <label>
            Admin token
            <input
              name="token"
              type="password"
              autoComplete="off"
              value={token}
              onChange={(e) => setToken(e.target.value)}
              placeholder="smadm_…"
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
