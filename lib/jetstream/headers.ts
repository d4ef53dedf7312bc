/**
 * NATS headers ingest adds to each telemetry message: what it knows that the batch does not carry.
 * Client-encoded Avro bodies are passed through untouched, so these cannot live in the record.
 */
export const PIPELINE_HEADERS = {
  /** When ingest accepted the batch, ms since the epoch. */
  receivedAt: "Sm-Received-At",
  /** The client's IP address: the processors turn it into a country and drop it. */
  clientIp: "Sm-Client-Ip",
  /** Receive time minus the instance's sent_at, ms. */
  clockSkewMs: "Sm-Clock-Skew-Ms",
  /** How many items had future times clamped to the receive time. */
  clamped: "Sm-Clamped-Items",
} as const;
