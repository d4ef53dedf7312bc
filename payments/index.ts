export {
  createPaymentProcessor,
  type PaymentDeps,
  type PaymentOutcome,
  type PaymentProcessor,
} from "./apply-event.ts";
export {
  addPeriod,
  type BillingPeriod,
  decideLicenseChange,
  mergeEvent,
  newSubscriptionState,
} from "./decide.ts";
export { sendExpiryNotices } from "./expiry-notices.ts";
export { lemonSqueezyPaymentEvent, verifyLemonSqueezySignature } from "./lemonsqueezy-events.ts";
export type { PaymentEvent, Provider } from "./payment-event.ts";
export { listProducts, mapProduct, type ProductMapping } from "./products.ts";
export { stripePaymentEvent, verifyStripeEvent } from "./stripe-events.ts";
