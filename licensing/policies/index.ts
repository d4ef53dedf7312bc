export {
  createPolicyBook,
  FREE_TIER,
  type PolicyBook,
  type TierPolicy,
} from "./tier-policies.ts";
