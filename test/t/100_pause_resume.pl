# Pause and resume of event triggers, redeliver_failed (issue 20, "Control"), with the real
# receiver: a pause lets the request in flight finish and be recorded; events keep being
# recorded and nothing of the paused trigger is sent, also by a restarted worker, nor its
# retries; other triggers flow; a resume wakes the worker, which sends everything that waited,
# exactly once, in id order. redeliver_failed sends failed events again.
# One request at a time (max_concurrent_deliveries = 1): the receiver's order of arrival is
# then the order of sending. The fallback poll is long: a resume must wake the worker itself.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Encode ();

my $json = JSON::PP->new->utf8->canonical;
my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('pause',
	conf => ["eventhooks.poll_interval = '60s'", 'eventhooks.max_concurrent_deliveries = 1']);

sub sq { return $node->safe_psql('postgres', $_[0]); }

# Event ids received on $path, in order of arrival.
sub ids_at { return event_ids_received($recv, path => $_[0]); }

# Waits ~2 s (the one place where a time window is the point) and checks that $path still has
# $n requests.
sub stays_at
{
	my ($n, $path, $name) = @_;
	$recv->wait_for_count($n + 1, path => $path, timeout => 2);
	is($recv->count(path => $path), $n, $name);
}

sub make_trigger
{
	my ($name, $retry_conf) = @_;
	sq(qq{CREATE TABLE t_$name (id int PRIMARY KEY);
	      SELECT eventhooks.create_event_trigger(name => '$name', table_name => 't_$name',
	        webhook => '@{[ $recv->url("/$name") ]}', on_insert => '{}',
	        retry_conf => '$retry_conf')});
}

sub states
{
	my ($trigger) = @_;
	return sq(qq{SELECT string_agg(CASE WHEN delivered THEN 'd' WHEN error THEN 'e'
	                                    WHEN archived THEN 'a' ELSE 'p' END, '' ORDER BY id)
	             FROM eventhooks.event_log WHERE trigger_name = '$trigger'});
}

sq('CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_delivery_worker($node, 10), 'delivery worker running');
make_trigger('p', '{"num_retries": 0}');
make_trigger('q', '{"num_retries": 0}');
make_trigger('r', '{"num_retries": 3, "interval_sec": 1}');
make_trigger('f', '{"num_retries": 0}');

# --- A pause while a request is in flight: it finishes and is recorded. ---
$recv->set_rule('/p', delay_ms => 1500);
sq('INSERT INTO t_p VALUES (1)');
ok($recv->wait_for_count(1, path => '/p', timeout => 10), 'first request of p in flight');
sq(q{SELECT eventhooks.pause_event_trigger('p')});
is(poll_sql($node, q{SELECT delivered FROM eventhooks.event_log WHERE trigger_name = 'p'}, 't'),
	't', 'the request in flight at the pause finished and was recorded as delivered');
$recv->set_rule('/p', delay_ms => 0);

# --- A retry of a paused trigger waits: r fails once, is paused before its retry is due. ---
$recv->set_rule('/r', fail_first => 1, fail_status => 500);
sq('INSERT INTO t_r VALUES (1)');
is(poll_sql($node, q{SELECT tries FROM eventhooks.event_log WHERE trigger_name = 'r'}, '1'),
	'1', 'r: first attempt failed, retry in 1 s');
sq(q{SELECT eventhooks.pause_event_trigger('r')});

# --- While p is paused: its events are recorded, nothing is sent; q flows. ---
sq('INSERT INTO t_p SELECT g FROM generate_series(2, 6) g');
sq('INSERT INTO t_q SELECT g FROM generate_series(1, 3) g');
ok($recv->wait_for_count(3, path => '/q', timeout => 10), 'q delivers while p is paused');
stays_at(1, '/p', 'nothing of paused p sent');
is(poll_sql($node, q{SELECT next_retry_at < now() FROM eventhooks.event_log
                     WHERE trigger_name = 'r'}, 't', 5), 't', 'r: its retry is due');
stays_at(1, '/r', 'the due retry of paused r is not sent');
is(states('p'), 'dppppp', 'p: its events are recorded and pending');
is(states('r'), 'p', 'r: its event is pending');

# --- A new worker while paused sends nothing either (the resume point kept the events). ---
my $old_pid = delivery_worker_pid($node);
sq("SELECT pg_terminate_backend($old_pid)");
my $new_pid = wait_for_delivery_worker($node, 30, $old_pid);
ok(defined $new_pid, 'a new delivery worker started');
sq('INSERT INTO t_p SELECT g FROM generate_series(7, 8) g');
sq('INSERT INTO t_q VALUES (4)');
ok($recv->wait_for_count(4, path => '/q', timeout => 10), 'q delivers after the restart');
stays_at(1, '/p', 'nothing of paused p sent by the new worker');
is(states('p'), 'dppppppp', 'p: 7 events pending after the restart');
is($recv->count(path => '/r'), 1, 'the retry of paused r still waits');

# --- Resume: everything that waited goes out, once each, in id order. ---
sq(q{SELECT eventhooks.resume_event_trigger('p')});
ok($recv->wait_for_count(8, path => '/p', timeout => 10), 'resume: the waiting events are sent');
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log
                     WHERE trigger_name = 'p'}, '8'), '8', 'p: all 8 delivered');
my @expected = split /\n/,
  sq(q{SELECT id FROM eventhooks.event_log WHERE trigger_name = 'p' ORDER BY id});
is_deeply([ ids_at('/p') ], \@expected, 'p: each event sent exactly once, in id order');
sq(q{SELECT eventhooks.resume_event_trigger('r')});
ok($recv->wait_for_count(2, path => '/r', timeout => 10), 'r: the retry is sent after resume');
is(poll_sql($node, q{SELECT states FROM (SELECT 1) x,
                     LATERAL (SELECT string_agg(delivered::text || tries, '') AS states
                              FROM eventhooks.event_log WHERE trigger_name = 'r') s}, 'true2'),
	'true2', 'r: delivered at its second attempt');

# --- redeliver_failed: two events fail (no retries), the receiver then answers 200. ---
$recv->set_rule('/f', fail_first => 2, fail_status => 500);
sq('INSERT INTO t_f VALUES (1), (2)');
is(poll_sql($node, q{SELECT states FROM (SELECT string_agg(error::text, ',') AS states
                     FROM eventhooks.event_log WHERE trigger_name = 'f') s}, 'true,true'),
	'true,true', 'f: both events failed');
is(sq(q{SELECT eventhooks.redeliver_failed('f')}), '2', 'redeliver_failed re-queues 2 events');
ok($recv->wait_for_count(4, path => '/f', timeout => 10), 'f: both sent again');
is(poll_sql($node, q{SELECT string_agg(delivered::text || '/' || error || '/' || tries, ',')
                     FROM eventhooks.event_log WHERE trigger_name = 'f'}, 'true/false/1,true/false/1'),
	'true/false/1,true/false/1', 'f: both delivered, tries counted from 0 again');
is(sq(q{SELECT eventhooks.redeliver_failed('f')}), '0', 'nothing failed is left');

# --- A resumed trigger is not starved by another trigger's backlog: its events waited behind
# its own cursor, which the claim reads beside the main cursor (not only after a main claim
# that filled the limit, which it does as long as the backlog lasts). ---
make_trigger('busy', '{"num_retries": 0}');
make_trigger('late', '{"num_retries": 0}');
$recv->set_rule('/busy', status => 200, delay_ms => 20);
sq(q{SELECT eventhooks.pause_event_trigger('late')});
sq('INSERT INTO t_late SELECT generate_series(1, 3)');
sq('INSERT INTO t_busy SELECT generate_series(1, 300)');    # about 6 s of requests
ok($recv->wait_for_count(5, path => '/busy', timeout => 20), 'busy: its backlog drains');
sq(q{SELECT eventhooks.resume_event_trigger('late')});
ok($recv->wait_for_count(3, path => '/late', timeout => 20), 'late: its 3 events are sent');
cmp_ok($recv->count(path => '/busy'), '<', 300,
	'late was sent while busy still had a backlog (not after it)');
ok($recv->wait_for_count(300, path => '/busy', timeout => 30), 'busy: all 300 sent');

$node->stop;
done_testing();
