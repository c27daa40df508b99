-- Who may do what: a table owner manages event triggers on its own tables with no grant on
-- the extension's objects; other roles can neither use nor tamper with them; environment
-- variables need eventhooks.allowed_env for non-superusers; a superuser can do everything.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

CREATE ROLE app_owner NOLOGIN;
CREATE ROLE other_role NOLOGIN;
-- redeliver_event's answer, with the (time-based) event id written as <id>.
CREATE FUNCTION try_redeliver(event uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM eventhooks.redeliver_event(event);
    RETURN 'redelivered';
EXCEPTION WHEN OTHERS THEN
    RETURN replace(SQLERRM, event::text, '<id>');
END
$$;
-- PG15: the public schema no longer grants CREATE to PUBLIC.
GRANT CREATE ON SCHEMA public TO app_owner, other_role;

-- A table owner creates an event trigger on its table without any other grant.
SET ROLE app_owner;
CREATE TABLE app_orders (id int PRIMARY KEY, note text);
SELECT eventhooks.create_event_trigger('app_orders', 'app_orders', 'http://127.0.0.1:9/orders',
    on_insert => '{}', on_update => '{}', on_delete => '{}', enable_manual => true);

-- Its writes record events although it has no privilege on eventhooks.event_log.
INSERT INTO app_orders VALUES (1, 'one'), (2, 'two');
UPDATE app_orders SET note = 'uno' WHERE id = 1;
-- So do the writes of a role that may only insert into the table.
GRANT INSERT ON app_orders TO other_role;
SET ROLE other_role;
INSERT INTO app_orders VALUES (3, 'by other_role');
SET ROLE app_owner;

-- The owner reads its own trigger and events (row-level security; sql/visibility.sql tests
-- who sees what), and writes only through the functions; worker_status is closed.
SELECT name, owner FROM eventhooks.event_triggers;
SELECT trigger_name, count(*) FROM eventhooks.event_log GROUP BY 1;
SELECT count(*) FROM eventhooks.event_invocation_logs;
SELECT * FROM eventhooks.worker_status;
INSERT INTO eventhooks.event_log (schema_name, table_name, trigger_name, payload)
VALUES ('public', 'app_orders', 'app_orders', '{}');
UPDATE eventhooks.event_triggers SET webhook = 'http://evil.example/';
-- ... and may invoke its trigger manually.
SELECT eventhooks.invoke_event_trigger('app_orders', '{"manual": true}') IS NOT NULL AS invoked;

RESET ROLE;
SELECT trigger_name, payload->>'op' AS op, payload->'data'->'new'->>'note' AS note
FROM eventhooks.event_log ORDER BY id;
SELECT name, owner FROM eventhooks.event_triggers;
SELECT id AS app_event FROM eventhooks.event_log
WHERE payload->'data'->'new'->>'id' = '2' AND payload->>'op' = 'INSERT' \gset

-- The owner may redeliver its trigger's events.
UPDATE eventhooks.event_log SET error = true, tries = 1 WHERE id = :'app_event';
SET ROLE app_owner;
SELECT eventhooks.redeliver_event(:'app_event');
RESET ROLE;
SELECT error, tries FROM eventhooks.event_log WHERE id = :'app_event';

-- Another role cannot create, replace, delete, invoke or redeliver on app_owner's table.
SET ROLE other_role;
CREATE TABLE other_items (id int);
SELECT eventhooks.create_event_trigger('steal', 'app_orders', 'http://127.0.0.1:9/steal',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('app_orders', 'other_items', 'http://127.0.0.1:9/steal',
    on_insert => '{}', replace => true);
SELECT eventhooks.delete_event_trigger('app_orders');
SELECT eventhooks.invoke_event_trigger('app_orders', '{"forged": true}');
SELECT try_redeliver(:'app_event');
SELECT * FROM eventhooks.event_log;
-- Nor attach the row trigger function by hand to feed events into app_owner's webhook.
CREATE TRIGGER forged AFTER INSERT ON other_items FOR EACH ROW
    EXECUTE FUNCTION eventhooks.capture_event('app_orders');
-- It may make event triggers on its own table.
SELECT eventhooks.create_event_trigger('other_items', 'other_items', 'http://127.0.0.1:9/items',
    on_insert => '{}');
INSERT INTO other_items VALUES (1);
-- ... but not manage app_owner's through its own name.
SELECT eventhooks.delete_event_trigger('app_orders');
RESET ROLE;
-- app_owner's trigger is unchanged, and no forged event was written.
SELECT name, table_name, webhook, owner FROM eventhooks.event_triggers ORDER BY name;
SELECT tgrelid::regclass AS table_name, tgname FROM pg_trigger
WHERE tgname LIKE 'eventhooks_%' OR tgname = 'forged' ORDER BY 1, 2;
SELECT trigger_name, count(*) FROM eventhooks.event_log GROUP BY 1 ORDER BY 1;
SELECT count(*) AS forged FROM eventhooks.event_log WHERE payload::text LIKE '%forged%';
SELECT error, tries FROM eventhooks.event_log WHERE id = :'app_event';

-- Borrowed triggers (issue 16). Alice (app_owner) has an event trigger with a secret header;
-- Bob (other_role) has one on his own table. A table owner may rename and drop the row
-- triggers on his table; names must lead nowhere: each configuration is bound to its table and
-- to its row trigger by oid.
SET ROLE other_role;
CREATE TABLE bob_table (id int);
SELECT eventhooks.create_event_trigger('bob_trigger', 'bob_table', 'http://127.0.0.1:9/bob',
    on_insert => '{}', enable_manual => true);
-- Bob renames his row trigger to the name Alice's will have ...
ALTER TRIGGER eventhooks_bob_trigger ON bob_table RENAME TO eventhooks_alice_trigger;
SET ROLE app_owner;
CREATE TABLE alice_secrets (id int, note text);
SELECT eventhooks.create_event_trigger('alice_trigger', 'alice_secrets', 'http://127.0.0.1:9/alice',
    on_insert => '{}', enable_manual => true,
    headers => '[{"name": "X-Alice-Secret", "value": "s3cret"}]');
INSERT INTO alice_secrets VALUES (1, 'mine');
RESET ROLE;
SELECT id AS alice_event FROM eventhooks.event_log
WHERE trigger_name = 'alice_trigger' ORDER BY id LIMIT 1 \gset
-- ... and gains no right on her trigger by it.
SET ROLE other_role;
SELECT eventhooks.invoke_event_trigger('alice_trigger', '{"forged": "renamed"}');
SELECT try_redeliver(:'alice_event');
SELECT eventhooks.delete_event_trigger('alice_trigger');
SELECT eventhooks.create_event_trigger('alice_trigger', 'bob_table', 'http://127.0.0.1:9/bob',
    on_insert => '{}', replace => true);
-- ... and his table's rows still go to his own trigger, under its new name.
INSERT INTO bob_table VALUES (1);
-- Alice keeps every right on hers.
SET ROLE app_owner;
INSERT INTO alice_secrets VALUES (2, 'still mine');
SELECT eventhooks.invoke_event_trigger('alice_trigger', '{"by": "alice"}') IS NOT NULL AS invoked;
SELECT eventhooks.redeliver_event(:'alice_event');
-- Even with Alice's row trigger dropped by hand, Bob's renamed one is not taken for it.
SET ROLE app_owner;
DROP TRIGGER eventhooks_alice_trigger ON alice_secrets;
SET ROLE other_role;
SELECT eventhooks.invoke_event_trigger('alice_trigger', '{"forged": "dropped"}');
SELECT try_redeliver(:'alice_event');
SELECT eventhooks.delete_event_trigger('alice_trigger');
-- Bob cannot attach the row trigger function by hand; a superuser's copy of Alice's row
-- trigger on Bob's table records nothing for her (a WARNING, once per session, says why), and
-- Bob's write succeeds.
CREATE TRIGGER copied AFTER INSERT ON bob_table FOR EACH ROW
    EXECUTE FUNCTION eventhooks.capture_event('alice_trigger');
RESET ROLE;
CREATE TRIGGER copied AFTER INSERT ON bob_table FOR EACH ROW
    EXECUTE FUNCTION eventhooks.capture_event('alice_trigger');
SET ROLE other_role;
INSERT INTO bob_table VALUES (2);
INSERT INTO bob_table VALUES (3);
RESET ROLE;
-- Alice's configuration is intact; nothing forged reached her webhook; Bob's rows were all
-- recorded once, for his trigger.
SELECT name, table_name, webhook, headers, owner FROM eventhooks.event_triggers
WHERE name IN ('alice_trigger', 'bob_trigger') ORDER BY name;
SELECT trigger_name, table_name, payload->>'op' AS op, payload->'data'->'new' AS new
FROM eventhooks.event_log WHERE trigger_name IN ('alice_trigger', 'bob_trigger') ORDER BY id;
-- Deleting Alice's trigger leaves Bob's row triggers alone (it drops only its own).
SET ROLE app_owner;
SELECT eventhooks.delete_event_trigger('alice_trigger');
RESET ROLE;
SELECT tgrelid::regclass AS table_name, tgname FROM pg_trigger
WHERE tgrelid IN ('alice_secrets'::regclass, 'bob_table'::regclass) ORDER BY 1, 2;
DROP TRIGGER copied ON bob_table;
SET ROLE other_role;
SELECT eventhooks.delete_event_trigger('bob_trigger');
RESET ROLE;
SELECT count(*) AS row_triggers_left FROM pg_trigger
WHERE tgrelid IN ('alice_secrets'::regclass, 'bob_table'::regclass);

-- Environment variables: a non-superuser may name none until a superuser allows them.
SHOW eventhooks.allowed_env;
SET ROLE app_owner;
SELECT eventhooks.create_event_trigger('env_hook', 'app_orders', webhook_from_env => 'ORDERS_URL',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('env_hook', 'app_orders', 'http://127.0.0.1:9/h',
    on_insert => '{}', headers => '[{"name": "X-Key", "value_from_env": "ORDERS_KEY"}]');
SELECT eventhooks.create_event_trigger('env_hook', 'app_orders', 'http://127.0.0.1:9/h',
    on_insert => '{}', signing => '{"scheme": "standard-webhooks", "secret_from_env": "ORDERS_SECRET"}');
-- ... and cannot allow them itself.
SET eventhooks.allowed_env = 'ORDERS_URL';
RESET ROLE;

-- After a superuser allows ORDERS_URL, app_owner may name it, and only it (names are
-- case-sensitive).
SET eventhooks.allowed_env = 'ORDERS_URL';
SET ROLE app_owner;
SELECT eventhooks.create_event_trigger('env_hook', 'app_orders', webhook_from_env => 'ORDERS_URL',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('env_hook2', 'app_orders', webhook_from_env => 'OTHER_URL',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('env_hook2', 'app_orders', webhook_from_env => 'orders_url',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('env_hook2', 'app_orders', webhook_from_env => 'ORDERS_URL',
    on_insert => '{}', headers => '[{"name": "X-Key", "value_from_env": "ORDERS_KEY"}]');
SELECT eventhooks.create_event_trigger('env_hook2', 'app_orders', webhook_from_env => 'ORDERS_URL',
    on_insert => '{}', signing => '{"scheme": "hmac-sha256", "secret_from_env": "ORDERS_SECRET"}');
RESET ROLE;
-- A list of several names allows each of them.
SET eventhooks.allowed_env = 'ORDERS_URL, ORDERS_KEY,ORDERS_SECRET';
SET ROLE app_owner;
SELECT eventhooks.create_event_trigger('env_hook2', 'app_orders', webhook_from_env => 'ORDERS_URL',
    on_insert => '{}', headers => '[{"name": "X-Key", "value_from_env": "ORDERS_KEY"}]',
    signing => '{"scheme": "hmac-sha256", "secret_from_env": "ORDERS_SECRET"}');
RESET ROLE;
RESET eventhooks.allowed_env;
SELECT name, webhook, webhook_from_env, headers, signing, owner FROM eventhooks.event_triggers
WHERE name LIKE 'env_hook%' ORDER BY name;

-- A superuser can do everything: make a trigger on app_owner's table, name any environment
-- variable, invoke and delete app_owner's trigger, redeliver its events.
SELECT eventhooks.create_event_trigger('admin_hook', 'app_orders', webhook_from_env => 'ANY_VAR',
    on_delete => '{}', enable_manual => true,
    headers => '[{"name": "Authorization", "value_from_env": "ADMIN_TOKEN"}]');
SELECT eventhooks.invoke_event_trigger('app_orders', '{"by": "superuser"}') IS NOT NULL AS invoked;
SELECT eventhooks.redeliver_event(:'app_event');
SELECT eventhooks.delete_event_trigger('env_hook');
-- The table owner manages the trigger the superuser made on its table.
SET ROLE app_owner;
SELECT eventhooks.invoke_event_trigger('admin_hook', '{"by": "app_owner"}') IS NOT NULL AS invoked;
DELETE FROM app_orders WHERE id = 3;
SELECT eventhooks.delete_event_trigger('admin_hook');
SELECT eventhooks.delete_event_trigger('env_hook2');
RESET ROLE;
SELECT name, owner FROM eventhooks.event_triggers ORDER BY name;
SELECT trigger_name, payload->>'op' AS op, payload->'data'->'new' AS new, archived
FROM eventhooks.event_log WHERE trigger_name IN ('admin_hook', 'app_orders') ORDER BY id;

-- Clean up.
DROP FUNCTION try_redeliver(uuid);
DROP OWNED BY app_owner, other_role;
DROP ROLE app_owner;
DROP ROLE other_role;
DROP EXTENSION pg_eventhooks;
