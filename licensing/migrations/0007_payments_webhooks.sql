-- Payments drive licenses (Stripe, Lemon Squeezy) and the service sends signed outgoing webhooks.

-- Which provider product/price (Stripe price id, Lemon Squeezy variant id) buys which tier and period. Data,
-- not code: a new price is a row. The amount is not kept here: prices live in tier_policies.
CREATE TABLE payment_products (
    provider text NOT NULL CHECK (provider IN ('stripe', 'lemonsqueezy')),
    product_ref text NOT NULL,
    tier text NOT NULL REFERENCES tier_policies (tier),
    billing_period text NOT NULL CHECK (billing_period IN ('monthly', 'yearly', 'lifetime')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, product_ref)
);

-- Every provider event processed once: the id is the provider's event id (Stripe) or the sha256 of the
-- raw body (Lemon Squeezy sends no event id; a retried delivery has the same body).
CREATE TABLE payment_events (
    provider text NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    -- The provider's time of the event: orders state changes when events arrive out of order.
    event_created timestamptz NOT NULL,
    subscription_ref text,
    -- Other provider ids the event names (invoice, charge, payment intent, order): refunds and disputes
    -- name a charge or an order, and are traced back to their subscription through these.
    refs text[] NOT NULL DEFAULT '{}',
    outcome text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX payment_events_refs ON payment_events USING gin (refs);

-- One row per provider subscription (or one-off order): what the events so far say, merged so that the
-- order of arrival does not matter (period end only grows; a status change applies only when newer).
CREATE TABLE payment_subscriptions (
    provider text NOT NULL,
    subscription_ref text NOT NULL,
    customer_ref text,
    order_ref text,
    email text,
    tier text REFERENCES tier_policies (tier),
    billing_period text,
    period_end timestamptz,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended', 'revoked')),
    status_at timestamptz NOT NULL DEFAULT '-infinity',
    -- When an ended subscription stops being valid (its paid period's end, or the cancellation time).
    ends_at timestamptz,
    license_id uuid REFERENCES licenses (id),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subscription_ref)
);
CREATE INDEX payment_subscriptions_customer ON payment_subscriptions (provider, customer_ref);
CREATE INDEX payment_subscriptions_order ON payment_subscriptions (provider, order_ref);

-- Outgoing webhooks: endpoints admins register, and one delivery per (event, endpoint), retried with
-- backoff until delivered or past the retry window.
CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url text NOT NULL,
    events text[] NOT NULL,
    -- The signing secret (whsec_…), sealed with the secret box (context: the endpoint id).
    secret_sealed bytea NOT NULL,
    description text,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The Standard Webhooks message id (webhook-id): the same for every attempt and replay of one event.
    message_id text NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status integer,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- The delivery log: one row per attempt.
CREATE TABLE webhook_attempts (
    id bigserial PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT now(),
    status integer,
    error text,
    duration_ms integer NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- The weekly digest is sent once per week whichever ingest process's schedule fires first.
CREATE TABLE digest_runs (
    week_start date PRIMARY KEY,
    sent_at timestamptz NOT NULL DEFAULT now(),
    recipients text[] NOT NULL
);

-- Mails sent about a license's expiry: one per license and expiry date, so a renewal (a new expiry) gets
-- its own notice next time and a sweep that runs twice sends nothing twice.
CREATE TABLE license_notices (
    license_id uuid NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('expiring_7d')),
    expires_at timestamptz NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (license_id, kind, expires_at)
);
