import { type ReactElement, useEffect, useState } from "react";
import { api, setCsrfToken } from "../shared/api.ts";
import { useHashRoute } from "../shared/hash-route.ts";
import { AuditPage } from "./audit-page.tsx";
import { FleetPage } from "./fleet-page.tsx";
import { InstancePage } from "./instance-page.tsx";
import { InstancesPage } from "./instances-page.tsx";
import { LicensesPage } from "./licenses-page.tsx";
import { SignIn } from "./sign-in.tsx";

/** The signed-in admin, as GET/POST /v1/admin/session answer. */
export interface AdminSession {
  name: string;
  scopes: string[];
  csrf_token: string;
  grafana_url: string;
}

const PAGES = [
  { path: "/", label: "Fleet", scope: "stats:read" },
  { path: "/instances", label: "Instances", scope: "instances:read" },
  { path: "/licenses", label: "Licenses", scope: "licenses:read" },
  { path: "/audit", label: "Audit log", scope: "audit:read" },
] as const;

/** The console: sign-in, then the pages the token's scopes allow. */
export function App() {
  const [session, setSession] = useState<AdminSession | null | undefined>(undefined);
  const route = useHashRoute();
  useEffect(() => {
    api<AdminSession>("GET", "/v1/admin/session")
      .then((s) => {
        setCsrfToken(s.csrf_token);
        setSession(s);
      })
      .catch(() => setSession(null));
  }, []);
  if (session === undefined) return <main>Loading…</main>;
  if (session === null)
    return (
      <SignIn
        onSignedIn={(s) => {
          setCsrfToken(s.csrf_token);
          setSession(s);
        }}
      />
    );
  const can = (scope: string) => session.scopes.includes(scope);
  const visible = PAGES.filter((p) => can(p.scope));
  const current =
    visible.find((p) => p.path !== "/" && route.startsWith(p.path))?.path ?? (route === "/" ? "/" : "");
  const signOut = async () => {
    await api("POST", "/v1/admin/session/end").catch(() => undefined);
    setSession(null);
  };
  let page: ReactElement;
  const instanceMatch = /^\/instances\/([0-9a-f-]{36})$/.exec(route);
  if (instanceMatch && can("instances:read"))
    page = <InstancePage id={instanceMatch[1] as string} canWrite={can("instances:write")} />;
  else if (route === "/instances" && can("instances:read")) page = <InstancesPage />;
  else if (route === "/licenses" && can("licenses:read"))
    page = <LicensesPage canWrite={can("licenses:write")} />;
  else if (route === "/audit" && can("audit:read")) page = <AuditPage />;
  else if (route === "/" && can("stats:read")) page = <FleetPage grafanaUrl={session.grafana_url} />;
  else
    page = (
      <section>
        <h2>Not available</h2>
        <p>Your admin token has no scope for this page.</p>
      </section>
    );
  return (
    <>
      <header className="top">
        <h1>SongMartyn Stats</h1>
        <nav aria-label="Console">
          {visible.map((p) => (
            <a key={p.path} href={`#${p.path}`} aria-current={current === p.path ? "page" : undefined}>
              {p.label}
            </a>
          ))}
        </nav>
        <div className="who">
          <span>signed in as {session.name}</span>
          <button type="button" className="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>{page}</main>
    </>
  );
}
