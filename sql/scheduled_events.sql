-- One-off scheduled events (issue 18, SPEC §2): create_scheduled_event stores the event with its
-- delivery configuration and returns its id; delete_scheduled_event removes it (whatever its
-- status, with its invocation logs, as Hasura does); every bad argument an ERROR naming it that
-- changes nothing; each role sees and deletes only its own events.
-- No delivery worker runs here (test/regress.conf): events change only by what this file does.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;
SET timezone = 'UTC';

-- What the caller sees, as counts per owner and status (ids and times differ from run to run;
-- the superuser that runs the tests is "superuser", whatever its name).
CREATE FUNCTION owner_label(owner name) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN owner IN ('alice', 'bob', 'gone') THEN owner::text ELSE 'superuser' END
$$;
CREATE FUNCTION seen() RETURNS TABLE (relation text, owner text, status text, rows bigint)
LANGUAGE sql AS $$
    SELECT 'scheduled_events', owner_label(e.owner), e.status, count(*)
    FROM eventhooks.scheduled_events e GROUP BY 2, 3
    UNION ALL
    SELECT 'scheduled_event_invocation_logs', owner_label(e.owner), NULL, count(*)
    FROM eventhooks.scheduled_event_invocation_logs l
    LEFT JOIN eventhooks.scheduled_events e ON e.id = l.event_id GROUP BY 2
    ORDER BY 1, 2, 3
$$;
-- delete_scheduled_event's answer, with the event id written as <id>.
CREATE FUNCTION try_delete(event uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM eventhooks.delete_scheduled_event(event);
    RETURN 'deleted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || replace(SQLERRM, event::text, '<id>');
END
$$;

-- create_scheduled_event: the id it returns is the row's; defaults; a time in the past is
-- accepted (the worker sends it at once, within tolerance_sec).
CREATE TEMP TABLE made (label text, id uuid);
INSERT INTO made SELECT 'plain', eventhooks.create_scheduled_event(
    'http://127.0.0.1:9/once', '2030-01-02 03:04:05+00');
INSERT INTO made SELECT 'full', eventhooks.create_scheduled_event(
    'https://example.com/once', now() + interval '1 hour', payload => '{"order": 7}',
    headers => '[{"name": "X-Job", "value": "once"}]',
    retry_conf => '{"num_retries": 3, "interval_sec": 5, "tolerance_sec": 60}',
    comment => 'remind', signing => '{"scheme": "hmac-sha256", "secret_from_env": "ONCE_SECRET"}');
INSERT INTO made SELECT 'past', eventhooks.create_scheduled_event(
    'http://127.0.0.1:9/once', now() - interval '1 minute', payload => 'null', signing => 'null');
SELECT m.label, e.webhook, e.scheduled_time > now() AS future, e.payload, e.headers,
       e.retry_conf, e.comment, e.signing, e.status, e.tries, e.next_retry_at,
       e.owner = current_user AS by_me, e.created_at <= now() AS made
FROM made m JOIN eventhooks.scheduled_events e USING (id) ORDER BY m.label;
SELECT scheduled_time FROM eventhooks.scheduled_events e JOIN made m USING (id)
WHERE m.label = 'plain';
-- Each call makes a new event, with a distinct id.
SELECT count(DISTINCT id) AS ids, count(*) AS events FROM made;

-- Bad input: an ERROR naming the argument, and nothing changes.
CREATE TEMP TABLE rows_before AS SELECT * FROM seen();
SELECT eventhooks.create_scheduled_event(NULL, now());
SELECT eventhooks.create_scheduled_event('ftp://example.com/x', now());
SELECT eventhooks.create_scheduled_event('example.com/x', now());
SELECT eventhooks.create_scheduled_event('', now());
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', NULL);
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', 'infinity');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', '-infinity');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), payload => '[]');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), payload => '"reminder"');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), payload => '1.5');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), payload => 'false');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), headers => '[{"name": "X-Key"}]');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), retry_conf => '{"num_retries": -1}');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), retry_conf => '{"timeout_sec": -1}');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), retry_conf => '{"tolerance_sec": -60}');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), retry_conf => '{"tolerance_sec": 1.5}');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), retry_conf => '{"retries": 3}');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/h', now(), signing => '{"scheme": "standard-webhooks"}');
SELECT eventhooks.delete_scheduled_event(NULL);
SELECT eventhooks.delete_scheduled_event('00000000-0000-0000-0000-000000000000');
(SELECT * FROM seen() EXCEPT ALL SELECT * FROM rows_before)
UNION ALL
(SELECT * FROM rows_before EXCEPT ALL SELECT * FROM seen());

-- delete_scheduled_event: an event still to be sent, and one already sent with its logs.
INSERT INTO eventhooks.scheduled_event_invocation_logs (event_id, status, request, response)
SELECT id, 200, '{}', '{}' FROM made WHERE label = 'past';
UPDATE eventhooks.scheduled_events SET status = 'delivered', tries = 1
WHERE id = (SELECT id FROM made WHERE label = 'past');
SELECT * FROM seen();
SELECT label, try_delete(id) FROM made WHERE label IN ('plain', 'past') ORDER BY label;
SELECT label, try_delete(id) FROM made WHERE label = 'plain';
SELECT * FROM seen();

-- Who sees and deletes what: everybody may schedule; the role that did (members included) and
-- superusers see the event and its logs, and delete it.
CREATE ROLE alice NOLOGIN;
CREATE ROLE bob NOLOGIN;
CREATE ROLE alice_team NOLOGIN IN ROLE alice;
CREATE ROLE gone NOLOGIN;
GRANT INSERT, SELECT ON made TO alice, bob, gone;
SET ROLE alice;
INSERT INTO made SELECT 'alice_1', eventhooks.create_scheduled_event('http://127.0.0.1:9/a', now() + interval '1 day');
INSERT INTO made SELECT 'alice_2', eventhooks.create_scheduled_event('http://127.0.0.1:9/a', now() + interval '2 days');
SET ROLE bob;
INSERT INTO made SELECT 'bob_1', eventhooks.create_scheduled_event('http://127.0.0.1:9/b', now() + interval '1 day',
    headers => '[{"name": "X-Api-Key", "value": "bob-secret"}]');
SET ROLE gone;
INSERT INTO made SELECT 'gone_1', eventhooks.create_scheduled_event('http://127.0.0.1:9/g', now() + interval '1 day');
RESET ROLE;
REVOKE ALL ON made FROM gone;
DROP ROLE gone;
INSERT INTO eventhooks.scheduled_event_invocation_logs (event_id, status, request, response)
SELECT id, 500, '{}', '{}' FROM made WHERE label IN ('alice_1', 'bob_1', 'gone_1');
SET ROLE alice;
SELECT * FROM seen();
SET ROLE alice_team;
SELECT * FROM seen();
SET ROLE bob;
SELECT * FROM seen();
-- Bob cannot delete alice's, the dropped role's or the superuser's events: for him they do not
-- exist.
SELECT label, try_delete(id) FROM made WHERE label IN ('alice_1', 'gone_1', 'full') ORDER BY label;
-- Environment variables in headers and signing: only those a superuser allowed.
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/b', now(),
    headers => '[{"name": "X-Key", "value_from_env": "ONCE_KEY"}]');
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/b', now(),
    signing => '{"scheme": "standard-webhooks", "secret_from_env": "ONCE_SECRET"}');
-- Nobody writes the tables directly.
INSERT INTO eventhooks.scheduled_events (webhook, scheduled_time, owner) VALUES ('http://127.0.0.1:9/x', now(), 'bob');
UPDATE eventhooks.scheduled_events SET status = 'dead';
DELETE FROM eventhooks.scheduled_event_invocation_logs;
RESET ROLE;
SET eventhooks.allowed_env = 'ONCE_KEY';
SET ROLE bob;
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/b', now(),
    headers => '[{"name": "X-Key", "value_from_env": "ONCE_KEY"}]') IS NOT NULL AS made;
SET ROLE alice_team;
SELECT label, try_delete(id) FROM made WHERE label = 'alice_2';
SELECT * FROM seen();
RESET ROLE;
RESET eventhooks.allowed_env;
-- A superuser sees everything and deletes any event, a dropped role's too.
SELECT * FROM seen();
SELECT label, try_delete(id) FROM made WHERE label IN ('gone_1', 'bob_1') ORDER BY label;
SELECT * FROM seen();

SET client_min_messages = error;
DROP FUNCTION seen(), owner_label(name), try_delete(uuid);
DROP EXTENSION pg_eventhooks;
DROP TABLE made;
DROP ROLE alice_team, alice, bob;
