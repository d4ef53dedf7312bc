export {
  type OfflineLicenseFile,
  offlineLicense,
  type PortalDeps,
  type PortalDevice,
  type PortalLicense,
  portalDevices,
  portalLicense,
  portalSignIn,
  requireDevice,
} from "./license-portal.ts";
