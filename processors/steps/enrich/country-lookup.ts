import { createRequire } from "node:module";
import { isIP } from "node:net";
import { isSpecialAddress } from "./special-addresses.ts";

/** Turns a client address into its ISO 3166-1 alpha-2 country, '' when unknown; never throws. */
export type CountryLookup = (ip: string) => string;

/** Hooks of a country lookup. */
export interface CountryLookupOptions {
  /** Told of a lookup that threw (it then answers ''), so the failure is counted rather than swallowed. */
  onError?: (err: unknown) => void;
}

// The part of geoip-country's CommonJS API used here; the package ships no types.
interface GeoipCountry {
  lookup(ip: string): { country?: unknown } | null;
}

// Longest textual IPv6 address with an embedded IPv4 one; anything longer is not an address.
const MAX_ADDRESS_LENGTH = 45;
const MAPPED_V4 = /^(?:0{1,4}:){5}ffff:|^::ffff:/i;
const COUNTRY = /^[A-Z]{2}$/;

/**
 * A country lookup over the GeoLite2 country database shipped inside the geoip-country package (nothing is
 * downloaded). Loading reads about 8 MB synchronously, so create one per process at start. Private,
 * loopback, link-local and other special-purpose addresses, and anything that is not an IPv4 or IPv6
 * address, answer ''.
 */
export function createCountryLookup(opts: CountryLookupOptions = {}): CountryLookup {
  const geoip = createRequire(import.meta.url)("geoip-country") as GeoipCountry;
  const lookup = (raw: string): string => {
    if (typeof raw !== "string" || raw.length > MAX_ADDRESS_LENGTH) return "";
    let ip = raw.trim();
    // An IPv4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
    if (MAPPED_V4.test(ip) && isIP(ip.replace(MAPPED_V4, "")) === 4) ip = ip.replace(MAPPED_V4, "");
    const family = isIP(ip);
    // A zone id (fe80::1%eth0) only names a link of this host: such a peer is never out on the internet.
    if (family === 0 || ip.includes("%")) return "";
    if (isSpecialAddress(ip, family === 4 ? "ipv4" : "ipv6")) return "";
    const country = geoip.lookup(ip)?.country;
    return typeof country === "string" && COUNTRY.test(country) ? country : "";
  };
  return (raw) => {
    try {
      return lookup(raw);
    } catch (err) {
      opts.onError?.(err);
      return "";
    }
  };
}
