export {
  ADMIN_SCOPES,
  type AdminPrincipal,
  type AdminScope,
  adminTokenHash,
  createAdminToken,
  listAdminTokens,
  revokeAdminToken,
  verifyAdminToken,
  verifyAdminTokenHash,
} from "./admin-tokens.ts";
export { type Actor, type AuditEntry, listAudit, writeAudit } from "./audit-log.ts";
export { type InstanceActivity, instanceActivity } from "./instance-activity.ts";
export {
  banInstanceByAdmin,
  type InstanceView,
  showInstance,
  unbanInstanceByAdmin,
} from "./instance-admin.ts";
export {
  decodeCursor,
  encodeCursor,
  type InstanceFilter,
  type InstancePage,
  type InstanceRow,
  instanceListWhere,
  listInstances,
} from "./instance-list.ts";
export { resetInstanceRegistration } from "./instance-reset.ts";
export {
  extendLicense,
  type IssueInput,
  issueLicense,
  issueLicenseIn,
  type LicenseDetail,
  type LicenseView,
  listLicenses,
  revokeLicense,
  revokeLicenseIn,
  showLicense,
} from "./license-admin.ts";
