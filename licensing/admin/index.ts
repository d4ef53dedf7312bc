export {
  ADMIN_SCOPES,
  type AdminPrincipal,
  type AdminScope,
  createAdminToken,
  listAdminTokens,
  revokeAdminToken,
  verifyAdminToken,
} from "./admin-tokens.ts";
export { type Actor, type AuditEntry, listAudit, writeAudit } from "./audit-log.ts";
export {
  banInstanceByAdmin,
  type InstanceView,
  showInstance,
  unbanInstanceByAdmin,
} from "./instance-admin.ts";
export {
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
