-- Bad input to the event trigger API: each gets an ERROR that names the argument and what is
-- wrong, and changes nothing (no row trigger, no configuration row).
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

CREATE TABLE t (id int PRIMARY KEY, amount numeric, note text);
CREATE VIEW t_view AS SELECT * FROM t;
CREATE MATERIALIZED VIEW t_matview AS SELECT * FROM t;
CREATE SEQUENCE t_seq;

-- table_name: unknown, NULL, not a table (view, materialized view, sequence, index).
SELECT eventhooks.create_event_trigger('bad', 'no_such_table', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', NULL, 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't_view', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't_matview', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't_seq', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't_pkey', 'http://127.0.0.1:9/h', on_insert => '{}');
-- A temporary table goes at the end of its session without a sql_drop event: refused.
CREATE TEMPORARY TABLE t_temp (id int);
SELECT eventhooks.create_event_trigger('bad', 't_temp', 'http://127.0.0.1:9/h', on_insert => '{}');
DROP TABLE t_temp;

-- Columns the table does not have, in columns or payload of each operation.
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{"payload": ["id", "nope"]}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{"columns": ["nope"]}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_update => '{"columns": ["nope"]}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_update => '{"columns": ["id"], "payload": ["Amount"]}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_delete => '{"payload": ["ctid"]}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_delete => '{"columns": ["nope"], "payload": "*"}');

-- webhook: not http(s), not parseable, empty; webhook and webhook_from_env both or neither.
SELECT eventhooks.create_event_trigger('bad', 't', 'ftp://example.com/hook', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', 'mailto:ops@example.com', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', 'example.com/hook', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://exa mple.com/', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', E'http://example.com/\nX-Injected: 1', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://[::1/', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', '', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', webhook_from_env => 'HOOK_URL');
SELECT eventhooks.create_event_trigger('bad', 't', on_insert => '{}');

-- webhook_from_env: not a valid environment variable name.
SELECT eventhooks.create_event_trigger('bad', 't', webhook_from_env => '1HOOK', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', webhook_from_env => 'HOOK-URL', on_insert => '{}');
SELECT eventhooks.create_event_trigger('bad', 't', webhook_from_env => '', on_insert => '{}');

-- retry_conf: negative, fractional, string and non-numeric values, out of range, unknown keys.
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"num_retries": -1}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"num_retries": 1.5}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"num_retries": "3"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"num_retries": true}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"num_retries": 100001}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"interval_sec": -10}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"interval_sec": {}}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"timeout_sec": 0}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"timeout_sec": "60"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"timeout_sec": 2.5}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"backoff": "linear"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"max_interval_sec": 0}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"num_retries": 3, "retries": 3}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '{"tolerance_sec": 60}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', retry_conf => '[3]');

-- OperationSpec: not an object, unknown keys, columns not "*" or an array, empty columns,
-- elements that are not column names, a column listed twice.
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '"*"');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '["id"]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_update => '{"colums": "*"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_delete => '{"payload": "*", "where": "id > 1"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_update => '{"columns": "all"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_update => '{"columns": 5}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_update => '{"columns": {"id": true}}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_update => '{"columns": []}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_update => '{"columns": ["id", 2]}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{"payload": [""]}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{"payload": ["id", "id"]}');

-- headers: not an array, element not an object, missing or bad name, value and
-- value_from_env both or neither, reserved names, line breaks, duplicates.
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '{"X-Key": "v"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '["X-Key: v"]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"value": "v"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": 1, "value": "v"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "Bad Name", "value": "v"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X:Y", "value": "v"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "", "value": "v"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X-Key", "value": "v", "value_from_env": "KEY"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X-Key"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X-Key", "value_from_env": "NOT-VALID"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X-Ok", "value": "v"}, {"name": "Host", "value": "evil.example"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "content-length", "value": "0"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X-Key", "value": "a\r\nX-Injected: 1"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X-Key", "value": "a"}, {"name": "x-key", "value": "b"}]');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X-Key", "value": "v", "secret": true}]');

-- No operation enabled at all.
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', enable_manual => false);

-- name: NULL, empty, longer than 42 characters, characters other than letters, digits, _ and -.
SELECT eventhooks.create_event_trigger(NULL, 't', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('', 't', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger(repeat('n', 43), 't', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('has space', 't', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('dot.name', 't', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('x"; DROP TABLE t; --', 't', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger('café', 't', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT eventhooks.create_event_trigger(E'tab\tname', 't', 'http://127.0.0.1:9/h', on_insert => '{}');

-- signing: not an object, unknown scheme, missing scheme or secret_from_env, bad values.
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', signing => '"standard-webhooks"');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', signing => '{"scheme": "rsa", "secret_from_env": "S"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', signing => '{"secret_from_env": "S"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', signing => '{"scheme": "standard-webhooks"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', signing => '{"scheme": "hmac-sha256", "secret_from_env": "9S"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', signing => '{"scheme": "hmac-sha256", "secret_from_env": "S", "header": "Bad Header"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', signing => '{"scheme": "standard-webhooks", "secret_from_env": "S", "header": "X-Sig"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', signing => '{"scheme": "standard-webhooks", "secret": "whsec_abc"}');
SELECT eventhooks.create_event_trigger('bad', 't', 'http://127.0.0.1:9/h', on_insert => '{}', headers => '[{"name": "X-Hub-Signature-256", "value": "forged"}]', signing => '{"scheme": "hmac-sha256", "secret_from_env": "S"}');

-- None of the failed calls above left anything behind.
SELECT count(*) AS row_triggers FROM pg_trigger WHERE tgname LIKE 'eventhooks_%';
SELECT count(*) AS configurations FROM eventhooks.event_triggers;

-- Limits that are still accepted: a name of exactly 42 characters with _ and -, an upper-case
-- https URL with port and query, a retry_conf at its bounds.
SELECT eventhooks.create_event_trigger('N_-' || repeat('x', 39), 't', 'HTTPS://Example.COM:8443/p?q=1',
    on_insert => '{}', retry_conf => '{"num_retries": 10000, "interval_sec": 0, "timeout_sec": 86400}');
SELECT name, length(name) FROM eventhooks.event_triggers;
SELECT tgname FROM pg_trigger WHERE tgrelid = 't'::regclass ORDER BY 1;
SELECT eventhooks.delete_event_trigger('N_-' || repeat('x', 39));

-- Duplicate name without replace is an ERROR (with a hint); with replace => true it works.
SELECT eventhooks.create_event_trigger('dup', 't', 'http://127.0.0.1:9/one', on_insert => '{}');
SELECT eventhooks.create_event_trigger('dup', 't', 'http://127.0.0.1:9/two', on_update => '{}');
SELECT name, webhook, on_insert, on_update FROM eventhooks.event_triggers;
-- A failed replace (bad argument) keeps the old definition and its row trigger.
SELECT eventhooks.create_event_trigger('dup', 't', 'ftp://127.0.0.1:9/two', on_update => '{}', replace => true);
SELECT eventhooks.create_event_trigger('dup', 't', 'http://127.0.0.1:9/two', on_update => '{"columns": ["nope"]}', replace => true);
SELECT name, webhook, on_insert, on_update FROM eventhooks.event_triggers;
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname LIKE 'eventhooks_%';
SELECT eventhooks.create_event_trigger('dup', 't', 'http://127.0.0.1:9/two', on_update => '{}', replace => true);
SELECT name, webhook, on_insert, on_update FROM eventhooks.event_triggers;
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname LIKE 'eventhooks_%';

-- A user trigger already holding the row trigger's name: ERROR, and no configuration row.
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER eventhooks_taken AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION noop();
SELECT eventhooks.create_event_trigger('taken', 't', 'http://127.0.0.1:9/h', on_insert => '{}');
SELECT count(*) AS configurations FROM eventhooks.event_triggers WHERE name = 'taken';
DROP TRIGGER eventhooks_taken ON t;
DROP FUNCTION noop();

-- delete_event_trigger / invoke_event_trigger: unknown and NULL names.
SELECT eventhooks.delete_event_trigger('no_such_trigger');
SELECT eventhooks.delete_event_trigger(NULL);
SELECT eventhooks.invoke_event_trigger('no_such_trigger', '{}');
SELECT eventhooks.invoke_event_trigger(NULL, '{}');
-- invoke_event_trigger on a trigger made without enable_manual.
SELECT eventhooks.invoke_event_trigger('dup', '{"x": 1}');
-- redeliver_event: unknown and NULL event ids.
SELECT eventhooks.redeliver_event('00000000-0000-0000-0000-000000000000');
SELECT eventhooks.redeliver_event(NULL);
-- None of those calls wrote an event.
SELECT count(*) AS events FROM eventhooks.event_log;

-- After the last trigger is deleted nothing is left behind.
SELECT eventhooks.delete_event_trigger('dup');
SELECT count(*) AS row_triggers FROM pg_trigger WHERE tgname LIKE 'eventhooks_%';
SELECT count(*) AS configurations FROM eventhooks.event_triggers;

DROP VIEW t_view;
DROP MATERIALIZED VIEW t_matview;
DROP SEQUENCE t_seq;
DROP TABLE t;
DROP EXTENSION pg_eventhooks;
