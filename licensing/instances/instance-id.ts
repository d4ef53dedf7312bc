const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a string is a UUID; checked before a query so PostgreSQL never sees a malformed instance id. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
