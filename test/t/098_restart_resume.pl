# The delivery worker's start after a server restart does not depend on the history kept in
# eventhooks.event_log (issue 20, part D): it resumes from the point kept in
# eventhooks.worker_resume_point (src/pg/delivery/resume_point.cpp), and no committed event
# is lost on the way.
#   (1) 200,000 delivered events of the past; the worker keeps a point past them.
#   (2) pg_ctl restart -m fast: the worker's first claims read far fewer event_log tuples than
#       the history holds (pg_stat_all_tables: idx_tup_fetch + seq_tup_read, counted by the
#       worker up to its exit: it is terminated after the first delivery to flush them).
#   (3) crash (-m immediate) with: a transaction that wrote an event long before, committed
#       after the point was kept, whose rescan hint the worker never took (the worker is
#       stopped with SIGSTOP before that commit, and killed by the shutdown); transactions
#       committing just before the crash (also unseen by the stopped worker); a transaction
#       open across the crash. All committed events arrive exactly once, the open one's never,
#       and the start again reads little of the history.
#   (4) the kept point is for superusers only.
#
# eventhooks.poll_interval is 1 h, autovacuum off: nothing else reads event_log or rescues a
# missed event.
#
#   /work/wt/locked-test tap test/t/098_restart_resume.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Time::HiRes qw(time usleep);

my $history = 200_000;
my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('restart_resume',
	conf => [ "eventhooks.poll_interval = '1h'", 'autovacuum = off' ]);

sub sq { return $node->safe_psql('postgres', $_[0]); }

sq('CREATE EXTENSION pg_eventhooks');
my $url = $recv->url('/r');
sq(qq{
	CREATE TABLE items (id int PRIMARY KEY, note text);
	SELECT eventhooks.create_event_trigger(name => 'items', table_name => 'items',
		webhook => '$url', on_insert => '{"columns": "*"}');
});

# The events received for a row id (a list: duplicates count).
sub received_for
{
	my ($rowid) = @_;
	my @hits;
	for my $r (@{ $recv->requests(path => '/r') })
	{
		my $body = eval { JSON::PP->new->decode($r->{body}) } or next;
		my $new = $body->{event}{data}{new} // next;
		push @hits, $body->{id} if defined $new->{id} && $new->{id} == $rowid;
	}
	return @hits;
}

# Waits (bounded) until every row id in @rows was received at least once.
sub wait_rows
{
	my ($timeout, @rows) = @_;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		return 1 unless grep { !received_for($_) } @rows;
		usleep(100_000);
	}
	return 0;
}

# event_log tuples read since the statistics were last kept: the worker's counters reach the
# statistics when it exits, so terminate it and wait for its successor (which starts from the
# point in shared memory).
sub history_reads_after_worker_exit
{
	my $pid = delivery_worker_pid($node);
	sq("SELECT pg_terminate_backend($pid)") if defined $pid;
	ok(defined wait_for_delivery_worker($node, 30, $pid), 'a new worker after terminating the old one');
	sq('SELECT pg_stat_clear_snapshot()');
	return sq(q{SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)
	            FROM pg_stat_all_tables WHERE relid = 'eventhooks.event_log'::regclass});
}

# ---------------------------------------------------------------------------------------------
# (1) A history of delivered events, two days old to one day old, loaded by SQL.
# ---------------------------------------------------------------------------------------------
my $t0 = time();
sq(qq{
	INSERT INTO eventhooks.event_log (id, schema_name, table_name, trigger_name, payload,
		delivered, tries, created_at)
	SELECT eventhooks.first_event_id_at(now() - interval '2 days' + g * interval '100 ms'),
		'public', 'items', 'items', '{"op": "INSERT", "data": {"old": null, "new": {}}}',
		true, 1, now() - interval '2 days' + g * interval '100 ms'
	FROM generate_series(1, $history) g;
	ANALYZE eventhooks.event_log;
});
note(sprintf('history of %d events loaded in %.1f s', $history, time() - $t0));
my $history_max = sq(q{SELECT id FROM eventhooks.event_log ORDER BY id DESC LIMIT 1});

sq(q{INSERT INTO items SELECT g, 'warm' FROM generate_series(1, 10) g});
ok(wait_rows(20, 1 .. 10), '(1) new events are delivered');
is( poll_sql($node,
		qq{SELECT resume_from > '$history_max' FROM eventhooks.worker_resume_point}, 't', 20),
	't', '(1) the worker keeps a resume point past the history');

# ---------------------------------------------------------------------------------------------
# (2) Restart -m fast: the first delivery does not read the history.
# ---------------------------------------------------------------------------------------------
my $before = history_reads_after_worker_exit();
$node->restart(mode => 'fast');
ok(defined wait_for_delivery_worker($node, 30), '(2) a worker runs after the restart');
sq(q{INSERT INTO items VALUES (11, 'after fast restart')});
ok(wait_rows(20, 11), '(2) an event written after the restart is delivered');
my $reads = history_reads_after_worker_exit() - $before;
note("(2) event_log tuples read from the restart to the first delivery: $reads");
cmp_ok($reads, '<', $history / 10,
	'(2) the start after a restart reads far less than the history (failed before: the whole history)');

# ---------------------------------------------------------------------------------------------
# (3) Crash with a long transaction whose hint the worker never took.
# ---------------------------------------------------------------------------------------------
my $long = $node->background_psql('postgres', on_error_stop => 0, timeout => 60);
$long->set_query_timer_restart;
$long->query_safe('BEGIN');
$long->query_safe(q{INSERT INTO items VALUES (100, 'long transaction')});
my $long_id = $long->query_safe(q{SELECT id FROM eventhooks.event_log ORDER BY id DESC LIMIT 1});
chomp $long_id;

my $open = $node->background_psql('postgres', on_error_stop => 0, timeout => 60);
$open->query_safe('BEGIN');
$open->query_safe(q{INSERT INTO items VALUES (200, 'open across the crash')});

# Newer events, delivered: the worker's cursor passes the long transaction's id.
usleep(20_000);
sq(q{INSERT INTO items SELECT g, 'newer' FROM generate_series(12, 20) g});
ok(wait_rows(20, 12 .. 20), '(3) events newer than the long transaction\'s are delivered');
my $newest = sq(q{SELECT id FROM eventhooks.event_log ORDER BY id DESC LIMIT 1});
my $kept_after = sq('SELECT now()');
is( poll_sql($node,
		qq{SELECT saved_at > '$kept_after' FROM eventhooks.worker_resume_point}, 't', 20),
	't', '(3) a resume point was kept after they were delivered');
is( sq(qq{SELECT resume_from < '$long_id' AND resume_from > '$history_max'
	      FROM eventhooks.worker_resume_point}),
	't', '(3) the kept point lies below the open transactions\' events, past the history');

# The worker stops taking anything: the long transaction's hint stays in shared memory.
my $worker = delivery_worker_pid($node);
ok(kill('STOP', $worker), '(3) worker stopped (SIGSTOP)');
$long->query_safe('COMMIT');
sq(q{INSERT INTO items SELECT g, 'just before' FROM generate_series(21, 30) g});
$node->stop('immediate');    # the stopped worker is SIGKILLed by the postmaster
eval { $long->quit };
eval { $open->quit };
$node->start;
ok(defined wait_for_delivery_worker($node, 30), '(3) a worker runs after the crash');
ok(wait_rows(30, 100, 21 .. 30),
	'(3) the long transaction\'s event and those committed just before the crash arrive');
is(join(',', map { scalar(received_for($_)) } 100, 21 .. 30), join(',', (1) x 11),
	'(3) ... each exactly once');
# After the crash the statistics start from zero.
my $crash_reads = history_reads_after_worker_exit();
note("(3) event_log tuples read from the crash to the deliveries: $crash_reads");
cmp_ok($crash_reads, '<', $history / 10, '(3) the start after a crash reads far less than the history');
is(scalar(received_for(200)), 0, '(3) the transaction open across the crash sent nothing');
is(sq(q{SELECT count(*) FROM items WHERE id = 200}), '0', '(3) ... it aborted');
is(sq(q{SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered}), '0',
	'(3) nothing is left pending');

# ---------------------------------------------------------------------------------------------
# (4) Superusers only.
# ---------------------------------------------------------------------------------------------
sq('CREATE ROLE plain LOGIN');
my ($rc, $out, $err) = $node->psql('postgres',
	'SET ROLE plain; SELECT * FROM eventhooks.worker_resume_point');
like($err, qr/permission denied/, '(4) a plain role cannot read the kept point');

$node->stop;
done_testing();
