"""SQL of the in-process bus (tables in `bus.tables`). Parameters are positional ($n)."""

DECLARE = """
INSERT INTO bus_bindings (queue, exchange, pattern, regex)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING
"""

# One row per (message, queue): a queue reached through several bindings gets one copy.
# The bindings are matched once per routing key, not once per message: a batch of hundreds
# of events has a handful of names.
PUBLISH = """
WITH m AS (
    SELECT * FROM unnest(
        $1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[],
        $8::bytea[]
    ) AS m(ord, via, exchange, routing_key, message_id, tenant_id, headers, body)
), routes AS (
    SELECT DISTINCT k.via, k.routing_key, b.queue
    FROM (SELECT DISTINCT via, routing_key FROM m) k
    JOIN bus_bindings b ON b.exchange = k.via AND ('.' || k.routing_key) ~ b.regex
), targets AS (
    SELECT DISTINCT ON (m.ord, r.queue) m.ord, r.queue, m.exchange, m.routing_key,
           m.message_id, m.tenant_id, m.headers, m.body
    FROM m JOIN routes r ON r.via = m.via AND r.routing_key = m.routing_key
    ORDER BY m.ord, r.queue
), inserted AS (
    INSERT INTO bus_deliveries (queue, tenant_id, message_id, exchange, routing_key, headers, body)
    SELECT queue, tenant_id, message_id, exchange, routing_key, headers::jsonb, body
    FROM targets ORDER BY ord, queue
    RETURNING queue
)
SELECT queue, pg_notify('bus_deliveries', queue) FROM (SELECT DISTINCT queue FROM inserted) q
"""

CLAIM = """
UPDATE bus_deliveries d SET locked_until = now() + make_interval(secs => $3)
WHERE d.id IN (
    SELECT id FROM bus_deliveries
    WHERE queue = $1 AND available_at <= now()
      AND (locked_until IS NULL OR locked_until < now())
    ORDER BY id LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING d.id, d.message_id, d.exchange, d.routing_key, d.headers::text AS headers, d.body,
          d.attempt
"""

RETRY = """
UPDATE bus_deliveries
SET attempt = attempt + 1, available_at = now() + make_interval(secs => $2),
    locked_until = NULL, last_error = $3
WHERE id = $1
"""

DEAD_LETTER = """
WITH d AS (DELETE FROM bus_deliveries WHERE id = ANY($1::bigint[]) RETURNING *)
INSERT INTO dead_letters
    (queue, tenant_id, message_id, exchange, routing_key, headers, body, error, attempts)
SELECT queue, tenant_id, message_id, exchange, routing_key, headers, body,
       coalesce($2, last_error, 'unknown'), attempt
FROM d ORDER BY id
"""

# A message that waited in its queue longer than the TTL (RabbitMQ's x-message-ttl).
EXPIRED = """
SELECT id FROM bus_deliveries
WHERE available_at < now() - make_interval(secs => $1)
  AND (locked_until IS NULL OR locked_until < now())
LIMIT 1000
"""

REPLAY = """
WITH d AS (
    DELETE FROM dead_letters
    WHERE ($1::text IS NULL OR queue = $1)
      AND (cardinality($2::text[]) = 0 OR message_id = ANY($2::text[]))
    RETURNING *
), inserted AS (
    INSERT INTO bus_deliveries (queue, tenant_id, message_id, exchange, routing_key, headers, body)
    SELECT queue, tenant_id, message_id, exchange, routing_key, headers, body FROM d ORDER BY id
    RETURNING queue
)
SELECT queue, count(*) AS n, pg_notify('bus_deliveries', queue) FROM inserted GROUP BY queue
"""
