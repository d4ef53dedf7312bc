import type { Tier } from "./types.ts";

/**
 * Countries of the simulated fleet: weight, a /24 of public IPv4 addresses that GeoLite2 (geoip-country)
 * places in that country (checked by test/unit/fleet-simulator.test.ts), and the UTC offset, in hours, of
 * its evenings (parties happen at local night).
 */
export const COUNTRIES = [
  { country: "US", weight: 24, net: "3.3.24", utcOffset: -6 },
  { country: "PH", weight: 10, net: "49.146.233", utcOffset: 8 },
  { country: "JP", weight: 9, net: "3.113.134", utcOffset: 9 },
  { country: "GB", weight: 8, net: "2.58.72", utcOffset: 0 },
  { country: "DE", weight: 8, net: "2.168.182", utcOffset: 1 },
  { country: "KR", weight: 6, net: "3.36.57", utcOffset: 9 },
  { country: "CA", weight: 5, net: "9.168.231", utcOffset: -5 },
  { country: "BR", weight: 5, net: "4.201.229", utcOffset: -3 },
  { country: "AU", weight: 4, net: "3.25.46", utcOffset: 10 },
  { country: "NL", weight: 3, net: "4.245.17", utcOffset: 1 },
  { country: "SE", weight: 3, net: "2.69.83", utcOffset: 1 },
  { country: "FR", weight: 3, net: "2.3.17", utcOffset: 1 },
  { country: "ES", weight: 3, net: "31.3.220", utcOffset: 1 },
  { country: "MX", weight: 3, net: "38.58.68", utcOffset: -6 },
  { country: "PL", weight: 2, net: "31.179.140", utcOffset: 1 },
  { country: "IT", weight: 2, net: "2.36.50", utcOffset: 1 },
  { country: "FI", weight: 1, net: "46.58.124", utcOffset: 2 },
  { country: "IE", weight: 1, net: "13.69.160", utcOffset: 0 },
] as const;

/** Tiers of the fleet with their share: most instances are free home setups, few are venues. */
export const TIERS: readonly (readonly [Tier, number])[] = [
  ["starter", 60],
  ["party_host", 30],
  ["venue", 10],
];

/** Operating systems (the os_platform values the processors store) with their share. */
export const PLATFORMS = [
  ["linux", 55],
  ["windows", 30],
  ["darwin", 15],
] as const;

/** OS versions per platform, as instances report them. */
export const OS_VERSIONS: Record<string, readonly string[]> = {
  linux: [
    "Debian GNU/Linux 12 (bookworm) 6.1.0-28-amd64",
    "Ubuntu 24.04.1 LTS 6.8.0-49-generic",
    "Arch Linux 6.11.6-arch1-1",
  ],
  windows: ["Windows 11 Pro 23H2 22631.4460", "Windows 10 Home 22H2 19045.5131"],
  darwin: ["macOS 14.7.1 (23H222)", "macOS 15.1 (24B83)"],
};

/**
 * SongMartyn versions with their share and error multiplier: 1.4.0 shipped a YouTube download regression and
 * an mpv crash, so its error rates are several times the others' (what error_rate_by_version.sql finds).
 */
export const VERSIONS = [
  { version: "1.2.0", weight: 10, errorFactor: 1.6, goVersion: "go1.21.9", mpvVersion: "0.35.1" },
  { version: "1.3.1", weight: 25, errorFactor: 1.0, goVersion: "go1.22.4", mpvVersion: "0.36.0" },
  { version: "1.4.0", weight: 20, errorFactor: 4.0, goVersion: "go1.22.4", mpvVersion: "0.37.0" },
  { version: "1.4.2", weight: 45, errorFactor: 0.7, goVersion: "go1.23.2", mpvVersion: "0.37.0" },
] as const;

/** Operations whose latency instances report (tag operation of api_response_times_ms), with their median, ms. */
export const OPERATIONS = [
  ["search", 45],
  ["queue_add", 12],
  ["queue_list", 6],
  ["queue_remove", 9],
  ["playback_control", 4],
  ["library_scan", 850],
  ["user_join", 15],
] as const;

/** Error types (tag type of error_count_by_type) with their base rate per instance-hour of a party. */
export const ERROR_TYPES = [
  ["youtube_download", 0.8],
  ["mpv_crash", 0.15],
  ["websocket", 0.5],
  ["library_scan", 0.1],
  ["network", 0.3],
] as const;

/** Song sources with their share of plays per tier (venues play their local library, homes stream more). */
export const SOURCES: Record<Tier, readonly (readonly [string, number])[]> = {
  starter: [
    ["youtube", 70],
    ["local", 25],
    ["other", 5],
  ],
  party_host: [
    ["youtube", 45],
    ["local", 50],
    ["other", 5],
  ],
  venue: [
    ["youtube", 15],
    ["local", 82],
    ["other", 3],
  ],
};

/** File types per source (YouTube songs arrive as webm/mp4; local libraries hold everything). */
export const FILE_TYPES: Record<string, readonly (readonly [string, number])[]> = {
  youtube: [
    ["webm", 70],
    ["mp4", 30],
  ],
  local: [
    ["mp4", 40],
    ["cdg", 22],
    ["mp3", 15],
    ["mkv", 13],
    ["avi", 5],
    ["kar", 5],
  ],
  other: [
    ["mp4", 60],
    ["mkv", 40],
  ],
};

/** Well-known karaoke songs (artist, title, seconds); the long tail is made up from these names. */
export const SONGS = [
  ["Queen", "Bohemian Rhapsody", 355],
  ["ABBA", "Dancing Queen", 231],
  ["Journey", "Don't Stop Believin'", 251],
  ["Bon Jovi", "Livin' on a Prayer", 249],
  ["Whitney Houston", "I Wanna Dance with Somebody", 291],
  ["Gloria Gaynor", "I Will Survive", 198],
  ["Neil Diamond", "Sweet Caroline", 203],
  ["The Killers", "Mr. Brightside", 222],
  ["Adele", "Someone Like You", 285],
  ["Frank Sinatra", "My Way", 276],
  ["Spice Girls", "Wannabe", 173],
  ["Backstreet Boys", "I Want It That Way", 213],
  ["Toto", "Africa", 295],
  ["Cyndi Lauper", "Girls Just Want to Have Fun", 238],
  ["a-ha", "Take On Me", 225],
  ["Bonnie Tyler", "Total Eclipse of the Heart", 330],
  ["Elton John", "Rocket Man", 281],
  ["Dolly Parton", "Jolene", 161],
  ["Oasis", "Wonderwall", 258],
  ["Britney Spears", "...Baby One More Time", 211],
  ["Lady Gaga", "Shallow", 216],
  ["Celine Dion", "My Heart Will Go On", 280],
  ["Village People", "Y.M.C.A.", 287],
  ["Tina Turner", "The Best", 250],
  ["Eagles", "Hotel California", 391],
] as const;
