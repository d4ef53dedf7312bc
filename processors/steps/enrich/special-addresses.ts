import { BlockList } from "node:net";

// IANA's special-purpose ranges (RFC 6890 and successors) that never locate a client: private,
// loopback, link-local, shared (CGNAT), documentation, benchmarking, multicast and reserved space. The
// geo database also has no country for most of them, but the answer must not depend on its contents.
const IPV4 = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const;
const IPV6 = [
  ["::", 127],
  ["64:ff9b::", 96],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const;

const special = new BlockList();
for (const [net, prefix] of IPV4) special.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of IPV6) special.addSubnet(net, prefix, "ipv6");

/** Whether an address (already validated as the given family) is in a range that never has a country. */
export function isSpecialAddress(ip: string, family: "ipv4" | "ipv6"): boolean {
  return special.check(ip, family);
}
