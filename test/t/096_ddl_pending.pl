# DDL of watched tables while their events are pending (issue 19, SPEC §2-§4), with the library
# preloaded and a real receiver:
#   (a) ALTER TABLE ... RENAME, ALTER TABLE ... SET SCHEMA and ALTER SCHEMA ... RENAME while the
#       webhook answers 500 (events retried): an event recorded before a rename carries the
#       names of its time, one recorded after carries the new names at once (from a session
#       whose trigger cache was warm), and all are delivered once the webhook answers 200;
#   (b) DROP TABLE of a watched table while one of its requests is in flight and more of its
#       events wait (in the worker's memory and in event_log): they are archived, none reaches
#       the receiver afterwards, and the worker goes on delivering another trigger's events;
#   (c) DROP DATABASE of a database with a watched table and pending events still works.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/096_ddl_pending.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Time::HiRes qw(time);

my $json = JSON::PP->new->utf8;
my $recv = start_receiver(quiet => 1);

# One request slot: in (b) the request in flight holds it, so the doomed table's other events
# can only wait (claimed or not) until the DROP has committed; nothing is sent meanwhile.
my $node = new_eventhooks_node('ddl_pending',
	conf => ['eventhooks.max_concurrent_deliveries = 1', "eventhooks.poll_interval = '1s'"]);
sub sq { return $node->safe_psql('postgres', $_[0]); }

sq('CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_delivery_worker($node, 10), 'delivery worker running');

# --- (a) renames while events are pending -----------------------------------------------------

$recv->set_rule('/orders', status => 500);
sq(qq{
	CREATE SCHEMA shop;
	CREATE TABLE shop.orders (id int PRIMARY KEY, note text);
	SELECT eventhooks.create_event_trigger('orders', 'shop.orders', '@{[ $recv->url('/orders') ]}',
		on_insert => '{}', retry_conf => '{"num_retries": 100, "interval_sec": 1}');
});

my $writer = $node->background_psql('postgres');
sub names_of_event
{
	my ($id) = @_;
	return sq(qq{SELECT schema_name || '.' || table_name FROM eventhooks.event_log
		WHERE payload->'data'->'new'->>'id' = '$id'});
}

$writer->query_safe(q{INSERT INTO shop.orders VALUES (1, 'before any rename')});
ok($recv->wait_for_count(2, path => '/orders', timeout => 30),
	'(a) the first event is tried and retried (the webhook answers 500)');
is(names_of_event(1), 'shop.orders', '(a) event 1 names shop.orders');

sq('ALTER TABLE shop.orders RENAME TO purchases');
$writer->query_safe(q{INSERT INTO shop.purchases VALUES (2, 'after ALTER TABLE RENAME')});
is(names_of_event(2), 'shop.purchases', '(a) after ALTER TABLE RENAME: the new table name at once');

sq('CREATE SCHEMA store; ALTER TABLE shop.purchases SET SCHEMA store');
$writer->query_safe(q{INSERT INTO store.purchases VALUES (3, 'after SET SCHEMA')});
is(names_of_event(3), 'store.purchases', '(a) after ALTER TABLE SET SCHEMA: the new schema at once');

sq('ALTER SCHEMA store RENAME TO outlet');
$writer->query_safe(q{INSERT INTO outlet.purchases VALUES (4, 'after ALTER SCHEMA RENAME')});
is(names_of_event(4), 'outlet.purchases',
	'(a) after ALTER SCHEMA RENAME: the new schema name at once');
$writer->quit;
is(names_of_event(1), 'shop.orders', '(a) event 1 still names shop.orders');
is(sq(q{SELECT count(*) FROM eventhooks.event_log
		WHERE trigger_name = 'orders' AND NOT delivered AND NOT error AND NOT archived}),
	'4', '(a) the four events are pending');

$recv->set_rule('/orders', status => 200);
is( poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*)
		FROM eventhooks.event_log WHERE trigger_name = 'orders'}, '4/4', 60),
	'4/4', '(a) all four delivered once the webhook answers 200');
# What each event's last (successful) request said about its table.
my %table_sent;
for my $r (@{ $recv->requests(path => '/orders') })
{
	next unless ($r->{status} // 0) == 200;
	my $body = eval { $json->decode($r->{body}) } or next;
	$table_sent{ $body->{event}{data}{new}{id} } = "$body->{table}{schema}.$body->{table}{name}";
}
is_deeply(
	\%table_sent,
	{ 1 => 'shop.orders', 2 => 'shop.purchases', 3 => 'store.purchases', 4 => 'outlet.purchases' },
	'(a) each request carries the names of its event\'s time');

# --- (b) DROP TABLE with pending events ---------------------------------------------------------

$recv->clear;
$recv->set_rule('/doomed', status => 500, delay_ms => 4000);
# The other trigger's first request fails and is retried 2 s later: it is delivered after the
# doomed events' retries (1 s) would have been due, had they not been archived.
$recv->set_rule('/other', status => 200, fail_first => 1);
sq(qq{
	CREATE TABLE doomed (id int PRIMARY KEY);
	CREATE TABLE other (id int PRIMARY KEY);
	SELECT eventhooks.create_event_trigger('doomed', 'doomed', '@{[ $recv->url('/doomed') ]}',
		on_insert => '{}', retry_conf => '{"num_retries": 100, "interval_sec": 1}');
	SELECT eventhooks.create_event_trigger('other', 'other', '@{[ $recv->url('/other') ]}',
		on_insert => '{}', retry_conf => '{"num_retries": 5, "interval_sec": 2}');
});
sq('INSERT INTO doomed SELECT generate_series(1, 20)');
ok($recv->wait_for_count(1, path => '/doomed', timeout => 30),
	'(b) a request of the doomed table is in flight (the receiver holds it 4 s)');
my $dropped_at = time();
sq('DROP TABLE doomed');
is(sq(q{SELECT count(*) FROM eventhooks.event_triggers WHERE name = 'doomed'}), '0',
	'(b) DROP TABLE removed its event trigger');
is(sq(q{SELECT count(*) FILTER (WHERE archived) || '/' || count(*) FROM eventhooks.event_log
		WHERE trigger_name = 'doomed'}), '20/20', '(b) and archived its twenty pending events');
my $in_flight = $recv->requests(path => '/doomed')->[0];
cmp_ok(time(), '<', $in_flight->{received_at} + 4,
	'(b) the DROP committed while that request was in flight (held 4 s)');

sq('INSERT INTO other VALUES (1), (2)');
is( poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log
		WHERE trigger_name = 'other'}, '2', 60),
	'2', '(b) the worker goes on delivering the other trigger\'s events (after a retry)');
my @late = grep { $_->{received_at} > $dropped_at } @{ $recv->requests(path => '/doomed') };
is(scalar @late, 0, '(b) no request of the dropped table reached the receiver after the DROP')
  or diag(explain(\@late));
is($recv->count(path => '/doomed'), 1, '(b) only the one that was in flight');
is(sq(q{SELECT count(*) FROM eventhooks.event_log
		WHERE trigger_name = 'doomed' AND (NOT archived OR delivered OR next_retry_at IS NOT NULL)}),
	'0', '(b) the dropped table\'s events stay archived, none delivered or waiting');
is(poll_queue_counts($node, '0/0', 10), '0/0', '(b) nothing pending is left');

# --- (c) DROP DATABASE with a watched table ----------------------------------------------------

sq('CREATE DATABASE gone');
$recv->set_rule('/gone', status => 500);
$node->safe_psql('gone', qq{
	CREATE EXTENSION pg_eventhooks;
	CREATE TABLE t (id int);
	SELECT eventhooks.create_event_trigger('t', 't', '@{[ $recv->url('/gone') ]}',
		on_insert => '{}', retry_conf => '{"num_retries": 100, "interval_sec": 1}');
	INSERT INTO t VALUES (1);
});
ok($recv->wait_for_count(1, path => '/gone', timeout => 30), '(c) the worker of "gone" delivers');
my ($rc, $out, $err) =
  $node->psql('postgres', 'DROP DATABASE gone', timeout => 60, timed_out => \my $timed_out);
is($rc, 0, '(c) DROP DATABASE of a database with a watched table and pending events')
  or diag($err);

$node->stop;
done_testing();
