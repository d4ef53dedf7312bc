export { consentRoute, consentRouteSchema } from "./consent.ts";
export { deactivateRoute, deactivateRouteSchema } from "./deactivate.ts";
export { type RegisterRouteOptions, registerRoute } from "./register.ts";
export { type RegisterBody, registerBodySchema, registerRouteSchema } from "./register-schema.ts";
