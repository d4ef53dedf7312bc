export { KEY_DIR_MODE, KEY_FILE_MODE, keysDir } from "../../lib/keys/index.ts";
export { type KeyRing, loadKeyRing, rotateSigningKey, SIGNING_ALG, type SigningKey } from "./key-ring.ts";
export { createPiiVault, loadPiiVault, type PiiVault, type PiiVaultOptions } from "./pii-vault.ts";
export { type ResealReport, resealAll } from "./reseal.ts";
export {
  createRotatingSecretBox,
  createSecretBox,
  loadSecretBox,
  rotateSecretBox,
  type SecretBox,
} from "./secret-box.ts";
