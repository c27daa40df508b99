# Fairness between webhooks (issue 16, item 2; GUIDE §4): a slow webhook with a backlog holds
# at most slots - reserve request slots from its first request, yet uses the slots nobody else
# needs; a healthy webhook's event leaves at once whatever the slow one's backlog; retries of
# another webhook leave within about a second of their due time; the slow webhook's backlog,
# passed by the claim's cursor while it had no room, is still delivered, each event once.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('fairness');
sub sq { return $node->safe_psql('postgres', $_[0]); }

# The SQL that creates (or, with a true $replace, replaces) event trigger $name on table $table,
# on INSERT, to the receiver's $path, with $retry_conf.
sub trigger_sql
{
	my ($name, $table, $path, $retry_conf, $replace) = @_;
	$retry_conf //= '{"timeout_sec": 30}';
	my $replace_arg = $replace ? ', replace => true' : '';
	return qq{SELECT eventhooks.create_event_trigger(
  name => '$name', table_name => '$table', webhook => '@{[ $recv->url($path) ]}',
  on_insert => '{}', retry_conf => '$retry_conf'$replace_arg);};
}

sq(q{CREATE EXTENSION pg_eventhooks});
my $slow_delay_ms = 4000;
$recv->set_rule('/slow',  delay_ms => $slow_delay_ms);
$recv->set_rule('/flaky', fail_first => 1, fail_status => 500);
for my $name (qw(slow healthy flaky))
{
	sq("CREATE TABLE t_$name (id int);"
		  . trigger_sql($name, "t_$name", "/$name", '{"num_retries": 3, "interval_sec": 1, "timeout_sec": 30}'));
}
ok(defined wait_for_delivery_worker($node, 10), 'delivery worker running');

# (1) 500 events to a webhook that answers after 4 s.
my $t_slow = time();
sq(q{INSERT INTO t_slow SELECT g FROM generate_series(1, 500) g});
ok($recv->wait_for_count(85, path => '/slow', timeout => 3), '(1) the slow webhook gets many slots at once');
usleep(300_000);
my $slow_first_wave = $recv->count(path => '/slow');
cmp_ok(time() - $t_slow, '<', $slow_delay_ms / 1000, '(1) counted before any slow answer came back');
cmp_ok($slow_first_wave, '<=', 90, '(1) a busy webhook holds at most 90 of 100 slots from its first request');
cmp_ok($slow_first_wave, '>=', 85, '(1) ... and uses the slots nobody else needs (work-conserving)');

# (2) One event to a healthy webhook while the slow one holds its slots and has ~400 waiting.
my $t_healthy = time();
sq(q{INSERT INTO t_healthy VALUES (1)});
ok($recv->wait_for_count(1, path => '/healthy', timeout => 10), '(2) the healthy webhook gets its event');
my ($healthy) = @{ $recv->requests(path => '/healthy') };
cmp_ok($healthy->{received_at} - $t_healthy, '<', 1.0,
	'(2) ... within a second of its commit, not after the slow webhook\'s backlog');

# (3) A webhook that fails once, retried after interval_sec 1 while the slow one is still busy.
sq(q{INSERT INTO t_flaky VALUES (1)});
ok($recv->wait_for_count(2, path => '/flaky', timeout => 10), '(3) the failing event is retried');
my @flaky = @{ $recv->requests(path => '/flaky') };
my $gap = $flaky[1]{received_at} - $flaky[0]{received_at};
cmp_ok($gap, '>=', 0.95, '(3) the retry waits its interval');
cmp_ok($gap, '<', 2.0, '(3) ... and leaves within about a second of its due time');
cmp_ok(time() - $t_slow, '<', $slow_delay_ms / 1000 + 2, '(3) measured while the slow backlog was still waiting');

# (4) Events the cursor passed by while the slow webhook had no room: more slow events
# committed now, and all of them are delivered once.
sq(q{INSERT INTO t_slow SELECT g FROM generate_series(501, 550) g});
sq(q{INSERT INTO t_healthy VALUES (2)});
ok($recv->wait_for_count(2, path => '/healthy', timeout => 5), '(4) healthy events keep leaving');
is( poll_sql($node,
		q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'slow'},
		'550', 90),
	'550', '(4) every slow event is delivered in the end');
my %seen;
$seen{$_}++ for event_ids_received($recv, path => '/slow');
is(scalar(keys %seen), 550, '(4) 550 distinct slow events received');
is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, '(4) none sent twice');
is(sq(q{SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered}), '0', '(4) nothing left pending');

# (5) A webhook's cursor rewound by a late commit, read in the same round that records the
# results of that webhook's events: those events are settled, not claimed and sent again.
# Three slots: a webhook holds at most two (one is the reserve); the third event waits, so the
# webhook is passed over and gets a cursor of its own; the late commit rewinds that cursor
# below all three; the results of the first two are recorded while the webhook has room again.
sq(q{ALTER SYSTEM SET eventhooks.max_concurrent_deliveries = 3});
sq(q{SELECT pg_reload_conf()});
$recv->set_rule('/dup', delay_ms => 1000);
sq("CREATE TABLE t_dup (id int);" . trigger_sql('dup', 't_dup', '/dup'));
usleep(300_000);    # the reload reached the worker
my $late = $node->background_psql('postgres', on_error_stop => 0, timeout => 30);
$late->set_query_timer_restart;
$late->query_safe('BEGIN');
$late->query_safe(q{INSERT INTO t_dup VALUES (0)});
usleep(20_000);    # a later millisecond: the committed events' ids sort after the late one
sq(q{INSERT INTO t_dup SELECT g FROM generate_series(1, 3) g});
ok($recv->wait_for_count(2, path => '/dup', timeout => 5), '(5) two of three events in flight');
$late->query_safe('COMMIT');
$late->quit;
is( poll_sql($node,
		q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'dup'},
		'4', 20),
	'4', '(5) all four events delivered');
usleep(1_500_000);    # a duplicate would be sent within a round or two
my %dup_seen;
$dup_seen{$_}++ for event_ids_received($recv, path => '/dup');
is(scalar(keys %dup_seen), 4, '(5) four distinct events received');
is(join(',', map { $dup_seen{$_} } sort keys %dup_seen), '1,1,1,1', '(5) each sent once');

# (6) Events waiting for their webhook's slot when the trigger is replaced (a new URL, say
# after a leaked secret) go to the new webhook, not to the old one with the old headers.
$recv->set_rule('/old', delay_ms => 1500);
sq("CREATE TABLE t_moved (id int);" . trigger_sql('moved', 't_moved', '/old'));
sq(q{INSERT INTO t_moved SELECT g FROM generate_series(1, 4) g});
ok($recv->wait_for_count(2, path => '/old', timeout => 5), '(6) two events in flight, two waiting');
sq(trigger_sql('moved', 't_moved', '/new', undef, 1));
ok($recv->wait_for_count(2, path => '/new', timeout => 10), '(6) the waiting events go to the new webhook');
usleep(2_000_000);
is($recv->count(path => '/old'), 2, '(6) the old webhook got only the two that were in flight');

# (7) DROP and CREATE EXTENSION in one transaction while a webhook's events wait: the new
# event_log's events of a trigger of the same name are all delivered.
$recv->set_rule('/again', delay_ms => 1500);
sq("CREATE TABLE t_again (id int);" . trigger_sql('again', 't_again', '/again'));
sq(q{INSERT INTO t_again SELECT g FROM generate_series(1, 4) g});
ok($recv->wait_for_count(2, path => '/again', timeout => 5), '(7) two events in flight, two waiting');
sq(qq{
BEGIN;
DROP EXTENSION pg_eventhooks CASCADE;
CREATE EXTENSION pg_eventhooks;
@{[ trigger_sql('again', 't_again', '/again2') ]}
INSERT INTO t_again SELECT g FROM generate_series(11, 13) g;
COMMIT;
});
is( poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log}, '3', 20),
	'3', '(7) the new event_log\'s three events are delivered');

$node->stop;
done_testing();
