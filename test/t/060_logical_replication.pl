# Logical replication of eventhooks.event_log (issue 16, item 8). A database that receives
# copies of event_log through an enabled subscription (a publication FOR ALL TABLES) must not
# send them: the publisher does. At the cutover of an upgrade or a migration (the subscription
# disabled or dropped) the subscriber becomes the primary and must deliver what is still
# pending there (at least once: duplicates around the cutover are fine, losses are not). Rows
# written under session_replication_role = replica (a restore) are delivered as usual.
#
# Each node reads its webhook URL from its own environment (webhook_from_env), so the receiver
# tells who sent a request: /pub is the publisher, /sub the subscriber.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);

$ENV{EH_REPL_HOOK} = $recv->url('/pub');
my $pub = new_eventhooks_node('publisher',
	init => { allows_streaming => 'logical' },  # wal_level = logical, wal senders
	conf => ["eventhooks.poll_interval = '200ms'"]);
$ENV{EH_REPL_HOOK} = $recv->url('/sub');
my $sub = new_eventhooks_node('subscriber', conf => ["eventhooks.poll_interval = '200ms'"]);
delete $ENV{EH_REPL_HOOK};

for my $node ($pub, $sub)
{
	$node->safe_psql('postgres', q{
		CREATE EXTENSION pg_eventhooks;
		CREATE TABLE watched (id int PRIMARY KEY, v text);
	});
}
# The event trigger is defined on the publisher only; the subscriber gets its row in
# eventhooks.event_triggers by replication, like the events.
$pub->safe_psql('postgres', q{
	SELECT eventhooks.create_event_trigger(name => 'repl', table_name => 'watched',
		webhook_from_env => 'EH_REPL_HOOK', on_insert => '{}',
		retry_conf => '{"num_retries": 5, "interval_sec": 1, "timeout_sec": 60}');
	CREATE PUBLICATION everything FOR ALL TABLES;
});
my $pub_connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION copy CONNECTION '$pub_connstr' PUBLICATION everything");
$sub->wait_for_subscription_sync($pub, 'copy');

my $status_sql = q{SELECT coalesce(last_error, '') FROM eventhooks.worker_status
                   WHERE database_name = current_database()};
my $paused = qr/paused: subscription "copy" replicates eventhooks\.event_log/;

like(poll_sql($sub, $status_sql, $paused, 10),
	$paused, 'subscriber: worker_status says delivery is paused by the subscription');
is($pub->safe_psql('postgres', $status_sql), '', 'publisher: nothing paused');

# webhook-id of each request received on $path (all paths if undef), with duplicates.
sub webhook_ids
{
	my ($path) = @_;
	return map { $_->{headers}{'webhook-id'} } @{ $recv->requests(path => $path) };
}

# Ids received more than once on $path.
sub duplicates
{
	my ($path) = @_;
	my %seen;
	$seen{$_}++ for webhook_ids($path);
	return grep { $seen{$_} > 1 } sort keys %seen;
}

my $pending_sql = q{SELECT count(*) FROM eventhooks.event_log
                    WHERE NOT delivered AND NOT error AND NOT archived};

# ---------------------------------------------------------------------------
# 1. Replicated events are sent by the publisher only.
# ---------------------------------------------------------------------------
# The publisher's webhook answers after 500 ms: the subscriber holds the copies as pending
# meanwhile, which is when a subscriber that delivers them would send them too.
$recv->set_rule('/pub', delay_ms => 500);
my $n = 20;
$pub->safe_psql('postgres',
	join('', map { "INSERT INTO watched VALUES ($_, 'row $_');\n" } 1 .. $n));
is(poll_sql($pub, 'SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log',
		"$n", 30),
	"$n", "publisher delivered its $n events");
$pub->wait_for_catchup('copy');
is(poll_sql($sub, 'SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log',
		"$n", 20),
	"$n", 'subscriber: the copies show them delivered');
my @ids = webhook_ids();
my %distinct = map { $_ => 1 } @ids;
is(scalar(keys %distinct), $n, "receiver got $n distinct event ids");
is(scalar(@ids), $n, 'each event id was received exactly once');
is($recv->count(path => '/sub'), 0, 'the subscriber sent nothing');

# ---------------------------------------------------------------------------
# 2. Cutover: the publisher is gone with events pending; disabling the subscription makes
#    the subscriber deliver them.
# ---------------------------------------------------------------------------
$recv->set_rule('/pub', delay_ms => 30000);  # the publisher's requests never finish
$recv->clear;
$pub->safe_psql('postgres',
	join('', map { "INSERT INTO watched VALUES ($_, 'row $_');\n" } 101 .. 105));
$pub->wait_for_catchup('copy');
is(poll_sql($sub, $pending_sql, '5', 20), '5', 'subscriber holds the 5 pending copies');
my $pending_ids = $sub->safe_psql('postgres',
	q{SELECT string_agg(id::text, ',' ORDER BY id) FROM eventhooks.event_log
	  WHERE NOT delivered AND NOT error AND NOT archived});
ok($recv->wait_for_count(5, path => '/pub', timeout => 20),
	'the publisher sent them (its webhook does not answer)');
$pub->stop('immediate');

$sub->safe_psql('postgres', 'ALTER SUBSCRIPTION copy DISABLE');
ok($recv->wait_for_count(5, path => '/sub', timeout => 20),
	'after DISABLE the subscriber delivers the pending events');
is(join(',', sort(webhook_ids('/sub'))), $pending_ids, 'exactly the pending ones, once each');
is(poll_sql($sub, $pending_sql, '0', 20), '0', 'nothing left pending on the new primary');
is(poll_sql($sub, $status_sql, '', 10), '', 'worker_status no longer says paused');
ok($sub->log_contains(
		qr/pg_eventhooks: delivery from eventhooks\.event_log paused in database "postgres": subscription "copy" replicates/),
	'the pause is logged');
ok($sub->log_contains(qr/pg_eventhooks: delivery from eventhooks\.event_log resumed in database "postgres"/),
	'the resumption is logged');

# ---------------------------------------------------------------------------
# 3. A restore under session_replication_role = replica on the new primary: delivered, even
#    with an id far behind the worker's cursor.
# ---------------------------------------------------------------------------
my $restore_row = q{
	BEGIN;
	SET LOCAL session_replication_role = replica;
	INSERT INTO eventhooks.event_log (id, schema_name, table_name, trigger_name, payload)
	VALUES ('%s', 'public', 'watched', 'repl',
	        '{"op": "INSERT", "data": {"old": null, "new": {"id": 900}}}');
	COMMIT;
};
my $restored_1 = '00000000-0000-7000-8000-000000000001';
$sub->safe_psql('postgres', sprintf($restore_row, $restored_1));
ok($recv->wait_for_count(6, path => '/sub', timeout => 20), 'restored row delivered');
is((webhook_ids('/sub'))[-1], $restored_1, 'it is the restored event');

# ---------------------------------------------------------------------------
# 4. ENABLE pauses again; DROP SUBSCRIPTION (the other cutover) resumes delivery.
# ---------------------------------------------------------------------------
$sub->safe_psql('postgres', 'ALTER SUBSCRIPTION copy ENABLE');
like(poll_sql($sub, $status_sql, $paused, 10), $paused, 'ENABLE pauses delivery again');
my $restored_2 = '00000000-0000-7000-8000-000000000002';
$sub->safe_psql('postgres', sprintf($restore_row, $restored_2));
# The publisher is gone: drop the subscription without its slot (in one transaction, so the
# worker sees it go from enabled to dropped).
$sub->safe_psql('postgres', q{
	BEGIN;
	ALTER SUBSCRIPTION copy DISABLE;
	ALTER SUBSCRIPTION copy SET (slot_name = NONE);
	DROP SUBSCRIPTION copy;
	COMMIT;
});
ok($recv->wait_for_count(7, path => '/sub', timeout => 20),
	'after DROP SUBSCRIPTION the event written while paused is delivered');
is((webhook_ids('/sub'))[-1], $restored_2, 'it is that event');
is(poll_sql($sub, $status_sql, '', 10), '', 'worker_status no longer says paused');
is(join(' ', duplicates('/sub')), '', 'the subscriber sent no event twice');

$sub->stop;
done_testing();
