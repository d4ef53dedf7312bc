export {
  createPolicyBook,
  FREE_TIER,
  type PolicyBook,
  readTierPolicies,
  type TierPolicy,
} from "./tier-policies.ts";
