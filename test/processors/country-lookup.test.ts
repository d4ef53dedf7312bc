import { describe, expect, it } from "vitest";
import { createCountryLookup, isSpecialAddress } from "../../processors/steps/enrich/index.ts";

// Addresses whose allocation has been stable for decades (Google DNS, MaxMind's own test address, RIPE NCC,
// the WIDE root server), checked against the geoip-country database the package ships.
const lookup = createCountryLookup();

describe("createCountryLookup", () => {
  const publicAddresses: [string, string][] = [
    ["8.8.8.8", "US"],
    ["81.2.69.160", "GB"],
    ["193.0.6.139", "NL"],
    ["202.12.27.33", "JP"],
    ["2001:4860:4860::8888", "US"],
    ["2001:67c:2e8:22::c100:68b", "NL"],
    ["::ffff:8.8.8.8", "US"],
    ["0:0:0:0:0:ffff:8.8.8.8", "US"],
    [" 8.8.8.8 ", "US"],
  ];
  for (const [ip, country] of publicAddresses) {
    it(`locates ${JSON.stringify(ip)} in ${country}`, () => expect(lookup(ip)).toBe(country));
  }

  const nowhere = [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.10.10",
    "100.64.0.1",
    "0.0.0.0",
    "192.0.2.1",
    "224.0.0.1",
    "255.255.255.255",
    "::ffff:10.0.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%eth0",
    "2001:4860:4860::8888%1",
    "2001:db8::1",
    "ff02::1",
  ];
  for (const ip of nowhere) {
    it(`answers '' for the special-purpose address ${ip}`, () => expect(lookup(ip)).toBe(""));
  }

  const garbage: unknown[] = [
    "",
    "garbage",
    "1.2.3",
    "999.1.1.1",
    "08.8.8.8",
    "8.8.8.8.8",
    "::ffff:999.1.1.1",
    "[2001:4860:4860::8888]",
    `${"8".repeat(40)}.8.8.8`,
    "8.8.8.8\u0000",
    null,
    undefined,
    134744072,
    {},
  ];
  for (const value of garbage) {
    it(`answers '' without throwing for ${JSON.stringify(value) ?? String(value)}`, () =>
      expect(lookup(value as string)).toBe(""));
  }

  it("never answers anything but a two-letter code or ''", () => {
    for (const ip of ["8.8.8.8", "1.1.1.1", "9.9.9.9", "2a00:1450:4001::1", "240e::1", "4.4.4.4"]) {
      expect(lookup(ip)).toMatch(/^(?:[A-Z]{2})?$/);
    }
  });
});

// The geo database happens to have no country for these ranges either; this checks the guard that makes
// the answer independent of what a future database contains.
describe("isSpecialAddress", () => {
  const cases: [string, "ipv4" | "ipv6", boolean][] = [
    ["10.255.0.1", "ipv4", true],
    ["172.31.0.1", "ipv4", true],
    ["100.127.255.255", "ipv4", true],
    ["198.18.0.1", "ipv4", true],
    ["203.0.113.7", "ipv4", true],
    ["240.0.0.1", "ipv4", true],
    ["172.32.0.1", "ipv4", false],
    ["100.128.0.1", "ipv4", false],
    ["8.8.8.8", "ipv4", false],
    ["::1", "ipv6", true],
    ["64:ff9b::808:808", "ipv6", true],
    ["fd00::1", "ipv6", true],
    ["febf::1", "ipv6", true],
    ["2001:db8:ffff::1", "ipv6", true],
    ["2001:4860:4860::8888", "ipv6", false],
    ["2a00:1450:4001::1", "ipv6", false],
  ];
  for (const [ip, family, special] of cases) {
    it(`${special ? "treats" : "does not treat"} ${ip} as special-purpose`, () =>
      expect(isSpecialAddress(ip, family)).toBe(special));
  }
});
