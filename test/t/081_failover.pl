# Failover (issue 17 "how users outgrow one machine", SPEC §4 at-least-once): a primary with
# a synchronous streaming standby, both with the library preloaded. Every request carries an
# X-Node header read from the sending server's environment at send time (value_from_env), so
# the receiver knows which node sent it.
#   1. The primary delivers; the standby, in recovery, runs no launcher and no worker and
#      sends nothing.
#   2. The receiver goes down; events pile up on the primary (tried, pending) and are
#      replicated synchronously.
#   3. The primary is stopped with -m immediate, the standby promoted: its launcher and worker
#      start without a restart of the server.
#   4. The receiver comes back on the same port: every event committed on the old primary and
#      not delivered there arrives, from the new primary only, after the promotion; no event
#      the old primary delivered is sent again.
#
#   /work/wt/locked-test tap test/t/081_failover.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;

my $PILED = 200;    # events committed while the receiver is down

my $recv = start_receiver(quiet => 1);
my $port = $recv->port;

# Each server keeps the environment it was started with: X-Node names the sender.
$ENV{EH_NODE} = 'primary';
my $primary = new_eventhooks_node('primary', init => { allows_streaming => 1 });
$primary->safe_psql(
	'postgres', qq{
	CREATE EXTENSION pg_eventhooks;
	CREATE TABLE orders (id int PRIMARY KEY, note text);
	SELECT eventhooks.create_event_trigger('orders_hook', 'orders', '@{[ $recv->url('/hook') ]}',
		on_insert => '{}',
		headers => '[{"name": "X-Node", "value_from_env": "EH_NODE"}]',
		retry_conf => '{"num_retries": 1000, "interval_sec": 1, "timeout_sec": 2}');
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$ENV{EH_NODE} = 'standby';
$standby->start;
# Synchronous only now, on the primary only: the standby's copy of the configuration (the
# backup) has no synchronous_standby_names, so once promoted it does not wait for a standby.
$primary->append_conf('postgresql.conf', "synchronous_standby_names = '*'");
$primary->reload;
is(poll_sql($primary, 'SELECT sync_state FROM pg_stat_replication', 'sync'),
	'sync', 'the standby replicates synchronously');

my $our_backends = q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type IN ('pg_eventhooks launcher', 'pg_eventhooks delivery')};

# --- 1. the primary delivers, the standby sends nothing ----------------------------------

$primary->safe_psql('postgres',
	"INSERT INTO orders SELECT g, 'before' FROM generate_series(1, 50) g");
is( poll_sql($primary,
		'SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log', '50', 30),
	'50', 'the primary delivered the first 50 events');
my @first_ids = event_ids_received($recv, path => '/hook');
my %first_from = map { ($_->{headers}{'x-node'} // '(none)') => 1 } @{ $recv->requests(path => '/hook') };
is_deeply([ sort keys %first_from ], ['primary'],
	'every request came from the primary, none from the standby (same events, same triggers)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM eventhooks.event_log WHERE delivered'),
	'50', 'the standby has them, delivered');
is($standby->safe_psql('postgres', $our_backends), '0',
	'the standby runs no pg_eventhooks launcher or delivery worker');
is($primary->safe_psql('postgres', $our_backends), '2',
	'the primary runs the launcher and one delivery worker');

# --- 2. the receiver goes down; events pile up on the primary ----------------------------

$recv->stop;
for my $batch (0 .. 3)
{
	my $from = 1000 + 50 * $batch;
	$primary->safe_psql('postgres',
		"INSERT INTO orders SELECT g, 'piled' FROM generate_series($from, $from + 49) g");
}
is( poll_sql($primary,
		'SELECT count(*) FROM eventhooks.event_log WHERE tries > 0 AND NOT delivered',
		"$PILED", 30),
	"$PILED", "the primary tried each of the $PILED new events and failed (receiver down)");
is( $standby->safe_psql('postgres',
		'SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered AND NOT error'),
	"$PILED", "the standby has the $PILED pending events (synchronous commit)");
my @piled = split /\n/,
  $standby->safe_psql('postgres', 'SELECT id FROM eventhooks.event_log WHERE NOT delivered');
is($standby->safe_psql('postgres', $our_backends), '0', 'still no worker on the standby');

# --- 3. the primary crashes, the standby is promoted -------------------------------------

my $started_at = $standby->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
$primary->stop('immediate');
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the standby is promoted');
ok(defined wait_for_delivery_worker($standby, 30),
	'a delivery worker runs on the promoted node');
is($standby->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$started_at, 'without a restart of the server');

# --- 4. the receiver comes back: everything arrives from the new primary ------------------

$recv = start_receiver(port => $port, quiet => 1);
is( poll_sql($standby,
		'SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered OR error', '0', 60),
	'0', 'the new primary delivered every pending event');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM eventhooks.event_log'),
	50 + $PILED, 'no event lost at the failover');

my (%from, %times);
for my $r (@{ $recv->requests(path => '/hook') })
{
	my $body = eval { decode_json($r->{body}) } or next;
	$from{ $r->{headers}{'x-node'} // '(none)' }++;
	$times{ $body->{id} }++;
}
note(sprintf('after failover: %d requests for %d events (%d piled up), from: %s',
		eval { my $n = 0; $n += $_ for values %times; $n }, scalar(keys %times), $PILED,
		join(', ', map { "$_ $from{$_}" } sort keys %from)));
is_deeply([ sort keys %from ], ['standby'], 'every request came from the new primary');
is(scalar(grep { !$times{$_} } @piled), 0, 'every piled-up event arrived');
is(scalar(grep { $times{$_} } @first_ids), 0,
	'no event the old primary delivered was sent again');

$standby->stop;
done_testing();
