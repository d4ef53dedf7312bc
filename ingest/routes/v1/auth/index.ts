export { callerOf, type LicenseRoutesOptions, licenseRoutes } from "./license.ts";
export { type RefreshBody, type RefreshRouteOptions, refreshRoute, refreshRouteSchema } from "./refresh.ts";
