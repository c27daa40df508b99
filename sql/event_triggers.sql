-- Event trigger API basics: create, the row trigger's payload, delete, invoke, redeliver.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

CREATE TABLE orders (id int PRIMARY KEY, amount numeric, note text);
SELECT eventhooks.create_event_trigger('orders_all', 'orders', 'http://127.0.0.1:9/hook',
    on_insert => '{}', on_update => '{"columns": ["amount"]}', on_delete => '{"payload": ["id"]}',
    enable_manual => true);
SELECT tgname, tgtype, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'orders'::regclass;

INSERT INTO orders VALUES (1, 10.50, 'first'), (2, 20, NULL);
UPDATE orders SET note = 'not listened' WHERE id = 1;
UPDATE orders SET amount = 11 WHERE id = 1;
UPDATE orders SET amount = 11 WHERE id = 1;  -- not distinct: no event
-- IS DISTINCT FROM uses the type's equality: 11 -> 11.00 is not a change.
UPDATE orders SET amount = 11.00 WHERE id = 1;
DELETE FROM orders WHERE id = 2;
SELECT schema_name, table_name, trigger_name, payload, delivered, error, tries, archived,
       locked IS NULL AS unlocked, next_retry_at IS NULL AS no_retry
FROM eventhooks.event_log ORDER BY id;

SELECT eventhooks.invoke_event_trigger('orders_all', '{"custom": [1, 2]}') IS NOT NULL AS invoked;
-- A NULL payload (or a scalar one) is sent as data.new as given.
SELECT eventhooks.invoke_event_trigger('orders_all', NULL) IS NOT NULL AS invoked_with_null;
SELECT eventhooks.invoke_event_trigger('orders_all', '"text"') IS NOT NULL AS invoked_with_scalar;
SELECT payload FROM eventhooks.event_log WHERE payload->>'op' = 'MANUAL' ORDER BY id;

-- redeliver_event puts an event back to pending with tries reset.
UPDATE eventhooks.event_log SET error = true, tries = 3 WHERE payload->>'op' = 'DELETE';
SELECT eventhooks.redeliver_event((SELECT id FROM eventhooks.event_log WHERE payload->>'op' = 'DELETE'));
SELECT error, tries, delivered FROM eventhooks.event_log WHERE payload->>'op' = 'DELETE';

-- replace => true swaps the definition atomically.
SELECT eventhooks.create_event_trigger('orders_all', 'orders', 'http://127.0.0.1:9/v2',
    on_insert => '{"payload": ["id"]}', replace => true);
SELECT name, webhook, on_insert, on_update FROM eventhooks.event_triggers;
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'orders'::regclass;
INSERT INTO orders VALUES (3, 30, 'three');
SELECT payload->'data' FROM eventhooks.event_log ORDER BY id DESC LIMIT 1;

-- Several triggers on one table: one event each.
SELECT eventhooks.create_event_trigger('orders_second', 'orders', 'http://127.0.0.1:9/two',
    on_insert => '{}');
INSERT INTO orders VALUES (4, 40, 'four');
SELECT trigger_name, payload->'data'->'new'->>'id' AS id FROM eventhooks.event_log
WHERE payload->'data'->'new'->>'id' = '4' ORDER BY trigger_name;

-- delete_event_trigger removes the row trigger and archives that trigger's pending events.
SELECT eventhooks.delete_event_trigger('orders_all');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'orders'::regclass ORDER BY 1;
SELECT trigger_name, archived, count(*) FROM eventhooks.event_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT name FROM eventhooks.event_triggers;

-- The extension's own tables cannot be watched (events about events would never end).
SELECT eventhooks.create_event_trigger('loop', 'eventhooks.event_log', 'http://127.0.0.1:9/',
    on_insert => '{}');

DROP TABLE orders;
DROP EXTENSION pg_eventhooks;
