# The capture half against concurrent DDL and a dump/restore (issue 16, items 1 and 8):
#   (a) ALTER SCHEMA ... RENAME of a watched table's schema, made in one session, is seen by
#       another session whose trigger cache is warm: its next event carries the new name;
#   (b) CREATE INDEX CONCURRENTLY on eventhooks.event_log while writers run: a writer that
#       sees the index before it is ready for inserts neither fails nor writes into it, and
#       the finished index holds every row (amcheck, heapallindexed);
#   (c) pg_dump and a restore into a new database keep each event trigger bound to its
#       restored table (the row trigger's new oid is re-bound): events are recorded, the
#       manual invocation and the table owner's rights work, a table rename is followed;
#       a configuration whose table was dropped is not restored onto another table.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/050_capture_binding.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;

# No worker needed: the events are read from event_log (their delivery is other tests' job).
my $node = new_eventhooks_node('capture_binding');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventhooks;
	CREATE EXTENSION amcheck;
	CREATE SCHEMA shop;
	CREATE TABLE shop.orders (id int PRIMARY KEY, note text);
	SELECT eventhooks.create_event_trigger('orders', 'shop.orders', 'http://127.0.0.1:9/orders',
		on_insert => '{}', enable_manual => true);
});

sub latest_names
{
	my ($db) = @_;
	return $node->safe_psql($db // 'postgres', q{
		SELECT schema_name || '.' || table_name FROM eventhooks.event_log
		ORDER BY id DESC LIMIT 1});
}

# --- (a) a schema renamed by another session ------------------------------------------------

my $writer = $node->background_psql('postgres');
$writer->query_safe(q{INSERT INTO shop.orders VALUES (1, 'cache warm')});
is(latest_names(), 'shop.orders', '(a) the first event names the schema');

$node->safe_psql('postgres', 'ALTER SCHEMA shop RENAME TO store');
$writer->query_safe(q{INSERT INTO store.orders VALUES (2, 'after schema rename')});
is(latest_names(), 'store.orders',
	'(a) after ALTER SCHEMA RENAME in another session, the warm session reports the new schema');
$writer->query_safe(q{SELECT eventhooks.invoke_event_trigger('orders', '{}')});
is(latest_names(), 'store.orders', '(a) so does a manual invocation');
# And back, within one transaction of the writer after the other session's rename.
$node->safe_psql('postgres', 'ALTER SCHEMA store RENAME TO shop');
$writer->query_safe(q{BEGIN; INSERT INTO shop.orders VALUES (3, 'renamed back'); COMMIT});
is(latest_names(), 'shop.orders', '(a) and the rename back');
$writer->quit;

# --- (b) CREATE INDEX CONCURRENTLY on event_log while writers run -----------------------------

$node->safe_psql('postgres', q{
	CREATE TABLE w (id int PRIMARY KEY);
	SELECT eventhooks.create_event_trigger('w', 'w', 'http://127.0.0.1:9/w', on_insert => '{}');
});

# A transaction holding event_log's RowExclusiveLock keeps CREATE INDEX CONCURRENTLY in its
# first wait, after the index became visible to new transactions but before it is built (and
# so before it is ready for inserts). No sleep holds the timing: the lock does.
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{BEGIN; INSERT INTO w VALUES (0)});

my $builder = $node->background_psql('postgres');
$builder->query_until(qr/started/, q{\echo started
CREATE INDEX CONCURRENTLY event_log_created ON eventhooks.event_log (created_at, id);
\echo built
});
is( poll_sql(
		$node, q{SELECT phase FROM pg_stat_progress_create_index},
		'waiting for writers before build', 30),
	'waiting for writers before build',
	'(b) CREATE INDEX CONCURRENTLY waits for the open writer, its index not ready');
is($node->safe_psql('postgres', q{
	SELECT indisready FROM pg_index WHERE indexrelid = 'eventhooks.event_log_created'::regclass}),
	'f', '(b) the index is not ready for inserts yet');

# New writers meanwhile: one row (written at once), and many (written as one batch).
my ($rc, $out, $err) = $node->psql('postgres', q{INSERT INTO w VALUES (1)});
is($rc, 0, '(b) a one-row write succeeds while the index is not ready') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{INSERT INTO w SELECT g FROM generate_series(2, 200) g});
is($rc, 0, '(b) a many-row write succeeds while the index is not ready') or diag($err);

$holder->query_safe('COMMIT');
$holder->quit;
# The builder goes on: build, ready, validate. Writers keep writing in between.
for my $n (1 .. 20)
{
	$node->safe_psql('postgres', "INSERT INTO w SELECT g FROM generate_series(${n}000, ${n}009) g");
}
$builder->query_until(qr/built/, '');
$builder->quit;
for my $n (21 .. 25)
{
	$node->safe_psql('postgres', "INSERT INTO w SELECT g FROM generate_series(${n}000, ${n}009) g");
	$node->safe_psql('postgres', "INSERT INTO w VALUES (${n}999)");
}
is($node->safe_psql('postgres', q{
	SELECT indisvalid AND indisready FROM pg_index
	WHERE indexrelid = 'eventhooks.event_log_created'::regclass}),
	't', '(b) the index was built');
($rc, $out, $err) = $node->psql('postgres', q{
	SELECT bt_index_check('eventhooks.event_log_created', true);
	SELECT bt_index_check('eventhooks.event_log_pkey', true)});
is($rc, 0, '(b) amcheck with heapallindexed finds every event_log row in the new index')
  or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'w'}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM w}), '(b) one event per row written');

# --- (c) dump and restore ---------------------------------------------------------------------

$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT CREATE ON SCHEMA public TO alice;
	SET ROLE alice;
	CREATE TABLE alice_items (id int, note text);
	SELECT eventhooks.create_event_trigger('alice_items', 'alice_items', 'http://127.0.0.1:9/a',
		on_insert => '{}', on_update => '{}', enable_manual => true);
	CREATE TABLE doomed (id int);
	SELECT eventhooks.create_event_trigger('doomed', 'doomed', 'http://127.0.0.1:9/d',
		enable_manual => true);
	DROP TABLE doomed;
	RESET ROLE;
	CREATE TABLE parted (id int, region text) PARTITION BY LIST (region);
	CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
	SELECT eventhooks.create_event_trigger('parted', 'parted', 'http://127.0.0.1:9/p',
		on_insert => '{}');
});
$node->safe_psql('postgres', 'DROP INDEX eventhooks.event_log_created');
my $dump = $node->basedir . '/capture_binding.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], '(c) pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('restored'), '-f', $dump ], '(c) restore into a new database');

is($node->safe_psql('restored', q{SELECT name FROM eventhooks.event_triggers ORDER BY name}),
	"alice_items\norders\nparted\nw",
	'(c) the configurations are restored, but not the one whose table was dropped');
# (Restored pending events, if any, come before the new ones.)
my $last = $node->safe_psql('restored', q{SELECT coalesce(
	(SELECT id FROM eventhooks.event_log ORDER BY id DESC LIMIT 1), '00000000-0000-0000-0000-000000000000')});
$node->safe_psql('restored', q{
	SET ROLE alice;
	INSERT INTO alice_items VALUES (1, 'restored');
	UPDATE alice_items SET note = 'restored, updated';
	SELECT eventhooks.invoke_event_trigger('alice_items', '{"after": "restore"}');
	RESET ROLE;
	INSERT INTO parted VALUES (1, 'eu');
	INSERT INTO shop.orders VALUES (100, 'restored');
});
is($node->safe_psql('restored', qq{
	SELECT string_agg(trigger_name || ' ' || schema_name || '.' || table_name || ' '
		|| (payload->>'op'), ', ' ORDER BY id)
	FROM eventhooks.event_log WHERE id > '$last'}),
	'alice_items public.alice_items INSERT, alice_items public.alice_items UPDATE, '
	  . 'alice_items public.alice_items MANUAL, parted public.parted INSERT, '
	  . 'orders shop.orders INSERT',
	'(c) after the restore, every event trigger records its events on its restored table');
$node->safe_psql('restored', q{ALTER TABLE alice_items RENAME TO alice_things;
	INSERT INTO alice_things VALUES (2, 'renamed')});
is(latest_names('restored'), 'public.alice_things', '(c) a restored table is followed when renamed');
($rc, $out, $err) = $node->psql('restored', q{
	SET ROLE alice;
	SELECT eventhooks.delete_event_trigger('alice_items')});
is($rc, 0, '(c) the table owner deletes the restored event trigger') or diag($err);
is($node->safe_psql('restored',
		q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'alice_things'::regclass}),
	'0', '(c) and its row trigger goes with it');

$node->stop;
done_testing();
