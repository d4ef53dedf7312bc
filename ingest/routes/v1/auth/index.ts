export { toHttpError } from "./licensing-http-error.ts";
export { type RefreshBody, type RefreshRouteOptions, refreshRoute, refreshRouteSchema } from "./refresh.ts";
