export {
  answerErasure,
  erasureStatusRoute,
  instancePrivacyRoutes,
  type PrivacyRoutesOptions,
  sendExport,
} from "./privacy-routes.ts";
export {
  ERASURE_DESCRIPTION,
  EXPORT_DESCRIPTION,
  erasureStatusSchema,
  exportResponses,
} from "./privacy-schemas.ts";
