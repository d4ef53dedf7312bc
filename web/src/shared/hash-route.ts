import { useEffect, useState } from "react";

const read = () => window.location.hash.replace(/^#/, "") || "/";

/** The page's client-side route: the URL hash without '#', '/' when empty. */
export function useHashRoute(): string {
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
