export { type CountryLookup, type CountryLookupOptions, createCountryLookup } from "./country-lookup.ts";
export { type EnrichContext, type EnrichedBatch, enrich } from "./enrich.ts";
export {
  createInstanceLookup,
  type InstanceLookup,
  type InstanceLookupOptions,
  type InstanceRecord,
} from "./instance-lookup.ts";
export { type SingleFlightCacheOptions, singleFlightCache } from "./single-flight-cache.ts";
export { isSpecialAddress } from "./special-addresses.ts";
