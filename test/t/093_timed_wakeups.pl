# The worker looks at its timed sources only when one is due (timed_due_at_, a deadline of its
# wait) or when something may have changed; a scheduled event must still be sent within a second
# of its time because the worker sleeps until then, not because it polls. The fallback poll is
# 30 s here, so only a worker that wakes up on time passes. Both parts failed on 02fd66f
# (review of issue 18):
#  (1) a scheduled event due after an event_log retry (its wake-up was dropped: only a deadline
#      earlier than the heap's top was kept, and the retry's round did not look at timed work);
#  (2) a scheduled event's retry recorded by a round that also looks at the timed sources (the
#      round's "next due", read in its first snapshot, did not see the retry it had recorded).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);

sub arrival
{
	my ($path, $n, $timeout) = @_;
	$recv->wait_for_count($n, path => $path, timeout => $timeout);
	my $reqs = $recv->requests(path => $path);
	return @$reqs >= $n ? $reqs->[ $n - 1 ]->{received_at} : undef;
}

# Creates a scheduled event to $path at now() + $ahead; returns its time (epoch seconds).
sub schedule_at
{
	my ($node, $path, $ahead) = @_;
	my $id = $node->safe_psql('postgres', qq{SELECT eventhooks.create_scheduled_event(
  '@{[ $recv->url($path) ]}', now() + interval '$ahead')});
	return $node->safe_psql('postgres',
		"SELECT extract(epoch FROM scheduled_time) FROM eventhooks.scheduled_events WHERE id = '$id'");
}

# (1)
{
	my $node = new_eventhooks_node('behind_retry', conf => ["eventhooks.poll_interval = '30s'"]);
	my $sq = sub { $node->safe_psql('postgres', $_[0]) };
	$recv->set_rule('/w1_ev', status => 500);
	$sq->(qq{CREATE EXTENSION pg_eventhooks; CREATE TABLE t (id int);
SELECT eventhooks.create_event_trigger(name => 'ev', table_name => 't',
  webhook => '@{[ $recv->url('/w1_ev') ]}', on_insert => '{}',
  retry_conf => '{"num_retries": 1, "interval_sec": 2}');});
	ok(defined wait_for_delivery_worker($node, 10), '(1) delivery worker running');

	# Control: nothing else waits, the event is sent on time.
	my $at = schedule_at($node, '/w1_ctl', '2 s');
	my $got = arrival('/w1_ctl', 1, 10);
	ok(defined $got && $got - $at < 1.0, '(1) control: sent within a second of its time')
	  or diag(sprintf('sent %s s after its time', defined $got ? sprintf('%.1f', $got - $at) : 'never'));

	# An event_log event fails; its retry is due 2 s after the result is recorded.
	$sq->(q{INSERT INTO t VALUES (1)});
	ok($recv->wait_for_count(1, path => '/w1_ev', timeout => 10), '(1) first attempt sent');
	is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log WHERE next_retry_at IS NOT NULL},
		'1', 10), '1', '(1) its retry is waiting');
	# Then a scheduled event due 4 s from now, i.e. after that retry.
	$at = schedule_at($node, '/w1_s', '4 s');
	$got = arrival('/w1_s', 1, 40);
	ok($recv->count(path => '/w1_ev') == 2, '(1) the event_log retry was sent meanwhile');
	ok(defined $got && $got - $at < 1.0,
		'(1) a scheduled event due after an event_log retry is sent within a second')
	  or diag(sprintf('sent %s s after its time', defined $got ? sprintf('%.1f', $got - $at) : 'never'));
	$node->stop('immediate', fail_ok => 1);
}

# (2)
{
	my $node = new_eventhooks_node('retry_overwritten',
		conf => [ "eventhooks.poll_interval = '30s'", 'eventhooks.max_concurrent_deliveries = 1' ]);
	my $sq = sub { $node->safe_psql('postgres', $_[0]) };
	$recv->set_rule('/w2_a', status => 500, delay_ms => 1500);
	$sq->(q{CREATE EXTENSION pg_eventhooks});
	ok(defined wait_for_delivery_worker($node, 10), '(2) delivery worker running');
	$sq->(qq{SELECT eventhooks.create_scheduled_event('@{[ $recv->url('/w2_a') ]}', now(),
  retry_conf => '{"num_retries": 1, "interval_sec": 2}')});
	my $first = arrival('/w2_a', 1, 10);
	ok(defined $first, '(2) first attempt in flight (the only slot taken)');
	# Timed work written while no slot is free: the round that records the failure takes the flag.
	$sq->(qq{SELECT eventhooks.create_scheduled_event('@{[ $recv->url('/w2_b') ]}',
  now() + interval '1 hour')});
	# Answered 1.5 s after the first request; the retry is due 2 s after that.
	my $second = arrival('/w2_a', 2, 40);
	ok(defined $second && $second - $first < 3.5 + 1.0,
		'(2) the retry of a scheduled event is sent within a second of its time')
	  or diag(sprintf('retry sent %s s after the first attempt (due after 3.5 s)',
		defined $second ? sprintf('%.1f', $second - $first) : 'never'));
	$node->stop('immediate', fail_ok => 1);
}

done_testing();
