export { type DeliveryView, listDeliveries, replayDelivery } from "./deliveries.ts";
export {
  createDeliveryWorker,
  type DeliverySettings,
  type DeliveryWorker,
  retryDelayMs,
} from "./delivery-worker.ts";
export {
  createWebhookEndpoint,
  disableWebhookEndpoint,
  type EndpointView,
  listWebhookEndpoints,
} from "./endpoints.ts";
export { WebhookError, type WebhookErrorCode } from "./errors.ts";
export { enqueueWebhookEvent, WEBHOOK_EVENTS, type WebhookEvent } from "./events.ts";
export { checkWebhookTarget, isLoopback } from "./target-guard.ts";
