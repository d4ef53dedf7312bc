/** Stable codes of outgoing-webhook errors (mapped to HTTP in the admin routes). */
export type WebhookErrorCode =
  | "WEBHOOK_TARGET_REFUSED"
  | "WEBHOOK_EVENT_UNKNOWN"
  | "WEBHOOK_ENDPOINT_NOT_FOUND"
  | "WEBHOOK_DELIVERY_NOT_FOUND";

/** A typed outgoing-webhook error. */
export class WebhookError extends Error {
  override readonly name = "WebhookError";
  constructor(
    readonly code: WebhookErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
