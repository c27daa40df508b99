# Timed sources (cron triggers, scheduled events) under faults and load; each part was a defect
# found by review of issue 18 (it failed on c943b5b), and runs on a node of its own:
#  (1) a round with due events in every source at once (300 each, defaults): the round's buffers
#      hold what the sources claim together (they overflowed: the worker crashed);
#  (2) a hand-edited tolerance_sec that is a number out of interval range: every source still
#      delivers (every round failed: no event trigger's event went out);
#  (3) one cron trigger with a hand-edited bad schedule: the others are still planned (one
#      statement planned them all, and its ERROR stopped them all);
#  (4) a scheduled event deleted while it waits in the worker's memory for a slot is not sent.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);
my $refused = 'http://127.0.0.1:1';    # nothing listens: each attempt fails at once

# (1) 300 due cron events, 300 due scheduled events, 300 pending event_log events, committed
# together; defaults fetch_batch_size = max_concurrent_deliveries = 100.
{
	my $node = new_eventhooks_node('overflow');
	my $sq = sub { $node->safe_psql('postgres', $_[0]) };
	$sq->(q{CREATE EXTENSION pg_eventhooks; CREATE TABLE t (id int);});
	ok(defined wait_for_delivery_worker($node, 10), '(1) delivery worker running');
	my $log_offset = -s $node->logfile;
	$sq->(qq{BEGIN;
SELECT eventhooks.create_event_trigger(name => 'ev', table_name => 't', webhook => '$refused/ev',
  on_insert => '{}', retry_conf => '{"num_retries": 0}');
SELECT eventhooks.create_cron_trigger('yearly', '$refused/cron', '0 0 1 1 *',
  retry_conf => '{"num_retries": 0}');
INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time)
SELECT 'yearly', now() - g * interval '1 ms' FROM generate_series(1, 300) g;
SELECT count(eventhooks.create_scheduled_event('$refused/s', now() - interval '1 second',
  retry_conf => '{"num_retries": 0}')) FROM generate_series(1, 300);
INSERT INTO t SELECT g FROM generate_series(1, 300) g;
COMMIT;});
	# Polled by hand: on c943b5b the worker aborts and takes the server down (TAP nodes have
	# restart_after_crash off), so safe_psql would die.
	my $settled_sql = q{SELECT
  (SELECT count(*) FROM eventhooks.cron_events WHERE status = 'error') || '/' ||
  (SELECT count(*) FROM eventhooks.scheduled_events WHERE status = 'error') || '/' ||
  (SELECT count(*) FROM eventhooks.event_log WHERE error)};
	my ($settled, $crash) = ('', undef);
	for (1 .. 300)
	{
		(undef, $settled) = $node->psql('postgres', $settled_sql);
		$crash = wait_for_log($node, qr/terminated by signal|corrupt|double free/, 0, $log_offset);
		last if $crash || ($settled // '') eq '300/300/300';
		usleep(100_000);
	}
	is($crash, undef, '(1) the delivery worker did not crash');
	is($settled, '300/300/300', '(1) every event attempted and settled');
	my (undef, $logs) = $node->psql('postgres', q{SELECT
  (SELECT count(*) FROM eventhooks.cron_event_invocation_logs) || '/' ||
  (SELECT count(*) FROM eventhooks.scheduled_event_invocation_logs) || '/' ||
  (SELECT count(*) FROM eventhooks.event_invocation_logs)});
	is($logs, '300/300/300', '(1) each event attempted once');
	$node->stop('immediate', fail_ok => 1);
}

# (2) A scheduled event whose retry_conf a superuser edited to a tolerance out of range.
{
	my $node = new_eventhooks_node('tolerance');
	my $sq = sub { $node->safe_psql('postgres', $_[0]) };
	$sq->(qq{CREATE EXTENSION pg_eventhooks; CREATE TABLE t (id int);
SELECT eventhooks.create_event_trigger(name => 'ev', table_name => 't',
  webhook => '@{[ $recv->url('/tol_ev') ]}', on_insert => '{}');});
	ok(defined wait_for_delivery_worker($node, 10), '(2) delivery worker running');
	$sq->(q{INSERT INTO t VALUES (0)});
	ok($recv->wait_for_count(1, path => '/tol_ev', timeout => 10), '(2) control: an event is delivered');
	$sq->(qq{BEGIN;
SELECT eventhooks.create_scheduled_event('@{[ $recv->url('/tol_s') ]}', now() - interval '5 seconds');
UPDATE eventhooks.scheduled_events SET retry_conf = '{"tolerance_sec": 1e300}';
COMMIT;});
	$sq->(q{INSERT INTO t VALUES (1)});
	ok($recv->wait_for_count(2, path => '/tol_ev', timeout => 10),
		'(2) a bad stored tolerance_sec does not stop event triggers\' delivery');
	$node->stop('immediate', fail_ok => 1);
}

# (3) Planning: cron trigger a's future events removed by hand, then any change to cron_triggers
# makes the worker plan again (relcache): a is planned; not when b (also without planned events)
# has a bad schedule: one statement plans every trigger and b's ERROR stops it.
{
	my $node = new_eventhooks_node('planning');
	my $sq = sub { $node->safe_psql('postgres', $_[0]) };
	$sq->(qq{CREATE EXTENSION pg_eventhooks;
SELECT eventhooks.create_cron_trigger('a', '$refused/a', '0 0 1 1 *');});
	ok(defined wait_for_delivery_worker($node, 10), '(3) delivery worker running');
	my $count_a = q{SELECT count(*) FROM eventhooks.cron_events WHERE trigger_name = 'a'};
	$sq->(q{DELETE FROM eventhooks.cron_events WHERE trigger_name = 'a';
UPDATE eventhooks.cron_triggers SET comment = 'touched' WHERE name = 'a';});
	is(poll_sql($node, $count_a, '1', 10), '1', '(3) control: the worker plans a again');
	$sq->(qq{SELECT eventhooks.create_cron_trigger('b', '$refused/b', '0 0 1 1 *');
UPDATE eventhooks.cron_triggers SET schedule = 'not a schedule' WHERE name = 'b';
DELETE FROM eventhooks.cron_events WHERE trigger_name IN ('a', 'b');
UPDATE eventhooks.cron_triggers SET comment = 'touched again' WHERE name = 'a';});
	ok(defined wait_for_log($node, qr/could not plan upcoming events/, 10), '(3) the worker warns about b');
	is(poll_sql($node, $count_a, '1', 5), '1', '(3) a is planned although b\'s schedule is bad');
	$node->stop('immediate', fail_ok => 1);
}

# (4) 95 scheduled events to a webhook that answers after 5 s: 90 go out (its share of the 100
# slots), 5 wait in memory. All are deleted while the first 90 are in flight.
{
	my $node = new_eventhooks_node('deleted');
	my $sq = sub { $node->safe_psql('postgres', $_[0]) };
	$sq->(q{CREATE EXTENSION pg_eventhooks;});
	ok(defined wait_for_delivery_worker($node, 10), '(4) delivery worker running');
	$recv->set_rule('/del_slow', delay_ms => 5000);
	$sq->(qq{SELECT count(eventhooks.create_scheduled_event('@{[ $recv->url('/del_slow') ]}',
  now() - interval '1 second', retry_conf => '{"timeout_sec": 30}')) FROM generate_series(1, 95)});
	ok($recv->wait_for_count(90, path => '/del_slow', timeout => 4), '(4) 90 in flight');
	my $sent_before = $recv->count(path => '/del_slow');
	my $deleted = $sq->(q{SELECT count(eventhooks.delete_scheduled_event(e.id))
FROM eventhooks.scheduled_events e WHERE e.status = 'scheduled'});
	is($deleted, '95', '(4) all 95 deleted (none was recorded yet)');
	# The 90 answers come back after 5 s: events waiting in memory would start then.
	ok(!$recv->wait_for_count($sent_before + 1, path => '/del_slow', timeout => 8),
		'(4) no deleted event is sent afterwards');
	$node->stop('immediate', fail_ok => 1);
}

done_testing();
