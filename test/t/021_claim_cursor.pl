# The delivery worker's claim without a pending index: it scans the primary key of
# eventhooks.event_log from a cursor kept in its memory, and finds retry-waiting events through
# the small event_log_retry index (next_retry_at). Every way an event can become pending
# *behind* the cursor must still end in a delivery:
#   (1) a late commit (ids taken before newer events that committed and were delivered first),
#   (2) redeliver_event on an old event, (3) a requeue by hand (UPDATE ... SET error = false /
#   delivered = false), (4) a restore-like INSERT/COPY of a pending row with an old id,
#   (5) a worker restart while events wait for a retry or are in flight,
# and (6) PREPARE TRANSACTION after writing events is refused (its commit hint would be lost),
# (7) worker_status counts what waits for a retry and drops to 0 once all is delivered.
#
# eventhooks.poll_interval is 1 h: no periodic poll can rescue an event the intended mechanism
# (commit hint, requeue trigger + wake-up, retry index, start-up scan) misses. The worker's pid
# is checked around the cases (1)-(4) and (6): a restarted worker's full scan would hide a miss.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/021_claim_cursor.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node(
	'claim_cursor',
	conf => [ "eventhooks.poll_interval = '1h'", "max_prepared_transactions = 5" ]);

sub sq { return $node->safe_psql('postgres', $_[0]); }

sq('CREATE EXTENSION pg_eventhooks');

# --- helpers -----------------------------------------------------------------------------



# A table with an INSERT event trigger named $name sending to $path.
sub make_table_and_trigger
{
	my ($table, $name, $path, $retry_conf) = @_;
	$retry_conf //= '{}';
	my $url = $recv->url($path);
	sq(qq{
		CREATE TABLE $table (id int PRIMARY KEY, note text);
		SELECT eventhooks.create_event_trigger(name => '$name', table_name => '$table',
			webhook => '$url', on_insert => '{"columns": "*"}', enable_manual => true,
			retry_conf => '$retry_conf');
	});
}

# The event id of the INSERT of row $rowid by trigger $name (as seen by a new session).
sub event_of
{
	my ($name, $rowid) = @_;
	return sq(qq{SELECT id FROM eventhooks.event_log WHERE trigger_name = '$name'
	             AND payload->'data'->'new'->>'id' = '$rowid'});
}

sub all_events
{
	my ($name) = @_;
	return split /\n/,
	  sq("SELECT id FROM eventhooks.event_log WHERE trigger_name = '$name' ORDER BY id");
}

sub distinct_sorted
{
	my %seen = map { $_ => 1 } @_;
	return [ sort keys %seen ];
}

sub times_received
{
	my ($path, $id) = @_;
	return scalar grep { $_ eq $id } event_ids_received($recv, path => $path);
}

# Waits (bounded) until each id of @$ids was received on $path at least $times times.
sub wait_ids
{
	my ($path, $ids, $times, $timeout) = @_;
	my $deadline = time() + $timeout;
	while (1)
	{
		my %n;
		$n{$_}++ for event_ids_received($recv, path => $path);
		return 1 unless grep { ($n{$_} // 0) < $times } @$ids;
		return 0 if time() > $deadline;
		usleep(100_000);
	}
}

sub in_list { return join(', ', map { "'$_'" } @_); }

# Waits until event_log shows all of @ids delivered (not failed, not archived); returns "n/N".
sub delivered_state
{
	my ($timeout, @ids) = @_;
	my $n = scalar @ids;
	return poll_sql($node,
		'SELECT count(*) FILTER (WHERE delivered AND NOT error AND NOT archived) || \'/\' || count(*) '
		  . 'FROM eventhooks.event_log WHERE id IN (' . in_list(@ids) . ')',
		"$n/$n", $timeout);
}

sub uuid_lt
{
	my ($a, $b) = @_;
	return sq("SELECT '$a'::uuid < '$b'::uuid");
}

my $pid = wait_for_delivery_worker($node, 10);
ok(defined $pid, 'delivery worker runs');
if (!defined $pid)
{
	# Nothing below can pass, and every case would wait out its timeouts.
	diag('no delivery worker; see ' . $node->logfile);
	$node->stop;
	done_testing();
	exit;
}

# =============================================================================================
# (1) Late commit: T1's events get ids before newer events that commit and are delivered
#     first (the cursor passes T1's ids while they are invisible); then T1 commits.
# =============================================================================================
make_table_and_trigger('t_late', 'late', '/late');
my $bg = $node->background_psql('postgres', on_error_stop => 0, timeout => 30);
$bg->set_query_timer_restart;    # the timeout applies to each query, not to the session
$bg->query_safe('BEGIN');
$bg->query_safe(q{INSERT INTO t_late VALUES (1, 'late-1')});
$bg->query_safe(q{INSERT INTO t_late VALUES (2, 'late-2')});
my @late_before = split /\n/,
  $bg->query_safe(q{SELECT id FROM eventhooks.event_log WHERE trigger_name = 'late' ORDER BY id});
is(scalar @late_before, 2, '(1) the open transaction T1 has written two events');
usleep(20_000);    # a later millisecond: the next event's UUIDv7 sorts after T1's

sq(q{INSERT INTO t_late VALUES (3, 'committed-3')});
my $c3 = event_of('late', 3);
ok(wait_ids('/late', [$c3], 1, 10), '(1) an event committed after T1 wrote its own is delivered');
is(delivered_state(10, $c3), '1/1', '(1) ... and recorded delivered');
usleep(20_000);
sq(q{INSERT INTO t_late VALUES (4, 'committed-4')});
my $c4 = event_of('late', 4);
ok(wait_ids('/late', [$c4], 1, 10), '(1) a second committed event is delivered too');
is(delivered_state(10, $c4), '1/1', '(1) ... and recorded delivered');
is(uuid_lt($late_before[1], $c3) . uuid_lt($c3, $c4), 'tt',
	'(1) T1\'s ids sort before the delivered events (the cursor has passed them)');
# One more event of T1, written after the delivered ones (ahead of the cursor).
$bg->query_safe(q{INSERT INTO t_late VALUES (5, 'late-5')});
is_deeply(distinct_sorted(event_ids_received($recv, path => '/late')), [ sort($c3, $c4) ],
	'(1) nothing of T1 was sent before its commit');
is(delivery_worker_pid($node) // 'none', $pid, '(1) same worker before T1 commits (no restart scan)');

$bg->query_safe('COMMIT');
my @late_all = all_events('late');
is(scalar @late_all, 5, '(1) five events committed in all');
my @late_ids = (@late_before, event_of('late', 5));
ok(wait_ids('/late', \@late_ids, 1, 12),
	'(1) after T1 commits, all three of its events arrive (the hint rescans from its smallest id)')
  or diag('received: ' . join(' ', event_ids_received($recv, path => '/late'))
	  . '; T1 ids: ' . join(' ', @late_ids));
is(delivered_state(10, @late_all), '5/5', '(1) event_log shows all five delivered');
is_deeply(distinct_sorted(event_ids_received($recv, path => '/late')), [ sort @late_all ],
	'(1) the receiver got exactly the five event ids');
is(delivery_worker_pid($node) // 'none', $pid, '(1) same worker throughout');
eval { $bg->quit };

# =============================================================================================
# (2) redeliver_event on an old event, delivered or failed, behind the cursor
# =============================================================================================
make_table_and_trigger('t_redeliver', 'redeliver', '/rd');
sq(q{INSERT INTO t_redeliver VALUES (1, 'old')});
my $e1 = event_of('redeliver', 1);
ok(wait_ids('/rd', [$e1], 1, 10), '(2) old event delivered');
is(delivered_state(10, $e1), '1/1', '(2) ... and recorded delivered');
$recv->set_rule('/rd', status => 500);
sq(q{INSERT INTO t_redeliver VALUES (2, 'failed')});
my $e2 = event_of('redeliver', 2);
ok(wait_ids('/rd', [$e2], 1, 10), '(2) an event answered 500 (num_retries 0)');
is( poll_sql($node, "SELECT error || '/' || delivered FROM eventhooks.event_log WHERE id = '$e2'",
		'true/false', 10),
	'true/false', '(2) ... is recorded failed (error = true)');
$recv->clear_rules;
sq(q{INSERT INTO t_redeliver VALUES (3, 'newer')});
my $e3 = event_of('redeliver', 3);
ok(wait_ids('/rd', [$e3], 1, 10), '(2) a newer event delivered (the cursor is past the old ones)');
is(delivered_state(10, $e3), '1/1', '(2) ... and recorded delivered');

sq("SELECT eventhooks.redeliver_event('$e1')");
ok(wait_ids('/rd', [$e1], 2, 10), '(2) redeliver_event of an old delivered event: sent again');
is( poll_sql($node, "SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$e1'",
		'true/false/1', 10),
	'true/false/1', '(2) ... recorded delivered again (tries reset, one attempt)');
sq("SELECT eventhooks.redeliver_event('$e2')");
ok(wait_ids('/rd', [$e2], 2, 10), '(2) redeliver_event of an old failed event: sent again');
is( poll_sql($node, "SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$e2'",
		'true/false/1', 10),
	'true/false/1', '(2) ... and now recorded delivered');
is_deeply(distinct_sorted(event_ids_received($recv, path => '/rd')), [ sort($e1, $e2, $e3) ],
	'(2) the receiver got exactly the three event ids');
is(times_received('/rd', $e3), 1, '(2) the newer event was not sent again');
is(delivery_worker_pid($node) // 'none', $pid, '(2) same worker throughout');

# =============================================================================================
# (3) Requeue by hand through SQL (the BEFORE trigger on event_log makes the row due now and
#     wakes the worker at commit)
# =============================================================================================
make_table_and_trigger('t_requeue', 'requeue', '/rq');
$recv->set_rule('/rq', status => 500);
sq(q{INSERT INTO t_requeue VALUES (1, 'fails'), (2, 'fails too')});
my ($f1, $f2) = (event_of('requeue', 1), event_of('requeue', 2));
ok(wait_ids('/rq', [ $f1, $f2 ], 1, 10), '(3) two events answered 500');
is( poll_sql($node,
		"SELECT count(*) FROM eventhooks.event_log WHERE id IN ('$f1', '$f2') AND error AND NOT delivered",
		'2', 10),
	'2', '(3) ... both recorded failed (error = true)');
$recv->clear_rules;
sq(q{INSERT INTO t_requeue VALUES (3, 'ok')});
my $g3 = event_of('requeue', 3);
ok(wait_ids('/rq', [$g3], 1, 10), '(3) a newer event delivered (the cursor is past the failed ones)');
is(delivered_state(10, $g3), '1/1', '(3) ... and recorded delivered');

# (3a) SET error = false, tries = 0 on a failed event
my $nr = sq(qq{BEGIN;
	UPDATE eventhooks.event_log SET error = false, tries = 0 WHERE id = '$f1';
	SELECT next_retry_at IS NOT NULL FROM eventhooks.event_log WHERE id = '$f1';
	COMMIT;});
is($nr, 't', '(3a) the requeue trigger gave the requeued row a next_retry_at');
ok(wait_ids('/rq', [$f1], 2, 10), '(3a) UPDATE ... SET error = false, tries = 0: sent again');
is(delivered_state(10, $f1), '1/1', '(3a) ... and recorded delivered');

# (3b) SET delivered = false on a delivered event
sq(qq{UPDATE eventhooks.event_log SET delivered = false WHERE id = '$g3'});
ok(wait_ids('/rq', [$g3], 2, 10), '(3b) UPDATE ... SET delivered = false: sent again');
is(delivered_state(10, $g3), '1/1', '(3b) ... and recorded delivered');

# (3c) the same under session_replication_role = replica (the trigger is ENABLE ALWAYS)
sq(qq{SET session_replication_role = replica;
	UPDATE eventhooks.event_log SET error = false, tries = 0 WHERE id = '$f2'});
ok(wait_ids('/rq', [$f2], 2, 10), '(3c) requeue under session_replication_role = replica: sent again');
is(delivered_state(10, $f2), '1/1', '(3c) ... and recorded delivered');

is_deeply(distinct_sorted(event_ids_received($recv, path => '/rq')), [ sort($f1, $f2, $g3) ],
	'(3) the receiver got exactly the three event ids');
is(delivery_worker_pid($node) // 'none', $pid, '(3) same worker throughout');

# =============================================================================================
# (4) Restore-like INSERT (and COPY) of pending rows with old ids
# =============================================================================================
make_table_and_trigger('t_restore', 'restore', '/rs');
sq(q{INSERT INTO t_restore VALUES (1, 'one')});
my $h1 = event_of('restore', 1);
ok(wait_ids('/rs', [$h1], 1, 10), '(4) an event delivered');
usleep(20_000);
sq(q{INSERT INTO t_restore VALUES (2, 'two')});
my $h2 = event_of('restore', 2);
ok(wait_ids('/rs', [$h2], 1, 10), '(4) a second event delivered');
is(delivered_state(10, $h1, $h2), '2/2', '(4) ... both recorded delivered');

# Ids older than every event: the zero-time UUIDv7, and $h1's timestamp minus 1 ms.
my $r1 = '00000000-0000-7000-8000-000000000001';
my $r3 = '00000000-0000-7000-8000-000000000003';
my ($ts_hex, $rest) = ($h1 =~ /^([0-9a-f]{8}-[0-9a-f]{4})(-.*)$/);
(my $ts_plain = $ts_hex) =~ s/-//;
my $older = sprintf('%012x', hex($ts_plain) - 1);
my $r2 = substr($older, 0, 8) . '-' . substr($older, 8, 4) . $rest;
is(uuid_lt($r2, $h1), 't', "(4) restored id $r2 sorts before the first delivered event");

my $due = sq(qq{
	INSERT INTO eventhooks.event_log (id, schema_name, table_name, trigger_name, payload)
	SELECT v.id::uuid, schema_name, table_name, trigger_name,
	       jsonb_set(payload, '{data,new,note}', to_jsonb(v.note))
	FROM eventhooks.event_log, (VALUES ('$r1', 'restored-1'), ('$r2', 'restored-2')) v(id, note)
	WHERE eventhooks.event_log.id = '$h1'
	RETURNING next_retry_at IS NOT NULL});
is($due, "t\nt", '(4) the restored rows got a next_retry_at from the requeue trigger');
ok(wait_ids('/rs', [ $r1, $r2 ], 1, 10), '(4) INSERT of pending rows with old ids: both sent');
is(delivered_state(10, $r1, $r2), '2/2', '(4) ... and recorded delivered');

# A COPY, as a restore of a dump (pg_extension_config_dump keeps pending events) runs it.
my $payload = sq(qq{SELECT jsonb_set(payload, '{data,new,note}', '"restored-3"')::text
                    FROM eventhooks.event_log WHERE id = '$h2'});
sq(qq{COPY eventhooks.event_log (id, schema_name, table_name, trigger_name, payload) FROM STDIN;
$r3\tpublic\tt_restore\trestore\t$payload
\\.
});
ok(wait_ids('/rs', [$r3], 1, 10), '(4) COPY of a pending row with an old id: sent');
is(delivered_state(10, $r3), '1/1', '(4) ... and recorded delivered');
is_deeply(distinct_sorted(event_ids_received($recv, path => '/rs')),
	[ sort($h1, $h2, $r1, $r2, $r3) ],
	'(4) the receiver got exactly the five event ids');
is(times_received('/rs', $h1) + times_received('/rs', $h2), 2,
	'(4) the events the restored rows were copied from were not sent again');
is(delivery_worker_pid($node) // 'none', $pid, '(4) same worker throughout');

# =============================================================================================
# (6) PREPARE TRANSACTION after writing events is refused; without events it works
# =============================================================================================
make_table_and_trigger('t_prep', 'prep', '/prep');
sq(q{CREATE TABLE t_plain (id int PRIMARY KEY)});

my ($rc, $out, $err) = $node->psql('postgres',
	q{BEGIN; INSERT INTO t_prep VALUES (1, 'prepared'); PREPARE TRANSACTION 'eh_refused_1';});
isnt($rc, 0, '(6) PREPARE TRANSACTION after an INSERT that wrote an event fails');
like($err, qr/ERROR:.*(PREPARE.*pg_eventhooks|pg_eventhooks.*PREPARE)/,
	'(6) ... with an ERROR naming PREPARE and pg_eventhooks');
is(sq(q{SELECT count(*) FROM t_prep}), '0', '(6) ... and the row change is rolled back');

($rc, $out, $err) = $node->psql('postgres',
	q{BEGIN; SELECT eventhooks.invoke_event_trigger('prep', '{"manual": 1}');
	  PREPARE TRANSACTION 'eh_refused_2';});
isnt($rc, 0, '(6) PREPARE TRANSACTION after invoke_event_trigger fails');
like($err, qr/ERROR:.*(PREPARE.*pg_eventhooks|pg_eventhooks.*PREPARE)/,
	'(6) ... with an ERROR naming PREPARE and pg_eventhooks');
is(sq(q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'prep'}), '0',
	'(6) no event left by the refused transactions');
is(sq(q{SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'eh_refused_%'}), '0',
	'(6) no prepared transaction left by the refused ones');

# Without events: a plain table, and an UPDATE of the watched table (INSERT-only trigger).
sq(q{INSERT INTO t_prep VALUES (10, 'canary')});
my $canary = event_of('prep', 10);
($rc, $out, $err) = $node->psql('postgres',
	q{BEGIN; INSERT INTO t_plain VALUES (1); UPDATE t_prep SET note = 'updated' WHERE id = 10;
	  PREPARE TRANSACTION 'eh_ok_1';});
is($rc, 0, '(6) PREPARE TRANSACTION of a transaction that wrote no event works')
  or diag($err);
is(sq(q{SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'eh_ok_1'}), '1',
	'(6) ... the transaction is prepared');
sq(q{COMMIT PREPARED 'eh_ok_1'});
is(sq(q{SELECT (SELECT count(*) FROM t_plain) || '/' || (SELECT note FROM t_prep WHERE id = 10)}),
	'1/updated', '(6) ... and COMMIT PREPARED applies it');
ok(wait_ids('/prep', [$canary], 1, 10), '(6) the event committed normally is delivered');
is(delivered_state(10, $canary), '1/1', '(6) ... and recorded delivered');
is_deeply([ all_events('prep') ], [$canary], '(6) event_log holds only that event');
is_deeply(distinct_sorted(event_ids_received($recv, path => '/prep')), [$canary],
	'(6) the receiver got exactly that event id');
is(delivery_worker_pid($node) // 'none', $pid, '(6) same worker throughout');

# =============================================================================================
# (5) Worker restart while events wait for a retry (next_retry_at in the future), are in
#     flight (pending, next_retry_at NULL), or are committed while the worker is away.
#     A new worker has not recorded those retries itself: it learns when they are due only
#     from the database. Their retry interval (60 s) is longer than the case: once the new
#     worker runs, the test moves them to known due times (below), so that it does not
#     depend on when the first attempts happened to be answered.
# =============================================================================================
make_table_and_trigger('t_retry', 'rs_retry', '/rr', '{"num_retries": 5, "interval_sec": 60}');
make_table_and_trigger('t_slow', 'rs_slow', '/rsl');
make_table_and_trigger('t_away', 'rs_away', '/raw');
make_table_and_trigger('t_hold', 'rs_hold', '/rh');
$recv->set_rule('/rr', status => 500);
$recv->set_rule('/rsl', delay_ms => 8000);
sq(q{INSERT INTO t_retry SELECT g, 'retry' FROM generate_series(1, 3) g});
my @retry_ids = all_events('rs_retry');
ok(wait_ids('/rr', \@retry_ids, 1, 10), '(5) three events answered 500 once');
is( poll_sql($node,
		q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'rs_retry'
		  AND tries = 1 AND NOT delivered AND NOT error AND next_retry_at > now()},
		'3', 5),
	'3', '(5) ... and wait for a retry (next_retry_at in the future)');
sq(q{INSERT INTO t_slow SELECT g, 'slow' FROM generate_series(1, 2) g});
my @slow_ids = all_events('rs_slow');
ok(wait_ids('/rsl', \@slow_ids, 1, 10), '(5) two events in flight to a slow webhook');
$recv->clear_rules;    # the receiver answers 200 at once from now on

is( sq(q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'rs_slow'
         AND NOT delivered AND next_retry_at IS NULL}),
	'2', '(5) ... which are pending, with no next_retry_at, when the worker is stopped');

my $old_pid = delivery_worker_pid($node) // 0;
my $kill_time = time();
sq("SELECT pg_terminate_backend($old_pid)");
sq(q{INSERT INTO t_away SELECT g, 'away' FROM generate_series(1, 2) g});
my @away_ids = all_events('rs_away');
my $new_pid = wait_for_delivery_worker($node, 15, $old_pid);
ok(defined $new_pid, "(5) the launcher restarts the worker after SIGTERM (was $old_pid)");
is( sq(q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'rs_retry'
         AND NOT delivered AND next_retry_at > now()}),
	'3', '(5) the retries are still in the future when the new worker runs');

ok(wait_ids('/raw', \@away_ids, 1, 10), '(5) events committed around the restart are delivered');
ok(wait_ids('/rsl', \@slow_ids, 2, 10), '(5) events in flight at the kill are sent again');

# The retries become due one after the other: the first 300 ms after the commit below, the
# other two 400 ms later. The same commit wakes the worker with an event that the receiver
# holds for 3 s, so that the worker is busy from then on (it recounts its queue only once a
# second while requests are in flight). Issue 16 (9): the worker learned the next due time
# only from that count, which leaves out what is already due; after it claimed the first retry
# at its due time, the next two became due before the next count and waited for the poll
# (1 h here; the original run: 2 of 3 not retried 25 s after the restart). Every claim must
# tell the worker when the next retry is due.
# The commit must find the worker idle for over a second (its last count older than that),
# so that the count runs with the claim at the commit, and not at some other moment.
is( poll_sql($node,
		"SELECT state = 'idle' AND state_change < clock_timestamp() - interval '1200 ms' "
		  . "FROM pg_stat_activity WHERE pid = " . ($new_pid // 0),
		't', 15),
	't', '(5) the new worker is idle after the restart');
$recv->set_rule('/rh', delay_ms => 3000);
my ($first_retry, @later_retries) = @retry_ids;
my $commit_time = time();
sq(qq{BEGIN;
	UPDATE eventhooks.event_log SET next_retry_at = now() + interval '300 ms' WHERE id = '$first_retry';
	UPDATE eventhooks.event_log SET next_retry_at = now() + interval '700 ms'
	  WHERE id IN (} . in_list(@later_retries) . q{);
	INSERT INTO t_hold VALUES (1, 'held');
	COMMIT;});
my @hold_ids = all_events('rs_hold');
ok(wait_ids('/rr', [$first_retry], 2, 5), '(5) the first retry-waiting event is retried when due');
ok(wait_ids('/rr', \@later_retries, 2, 5),
	'(5) ... and the next two when they are due (the claim tells the worker the next due time)')
  or diag('received /rr: ' . join(' ', event_ids_received($recv, path => '/rr')));
my %second_at;
for my $r (@{ $recv->requests(path => '/rr') })
{
	my $body = eval { JSON::PP->new->decode($r->{body}) } or next;
	$second_at{ $body->{id} } = $r->{received_at} if $r->{received_at} > $kill_time;
}
cmp_ok(($second_at{ $later_retries[-1] } // 1e12) - $commit_time, '<', 2.5,
	'(5) ... within about a second of their due time');
ok(wait_ids('/rh', \@hold_ids, 1, 10), '(5) the held event arrived too');
# The second sends came from the new worker: received after the kill.
my %after_kill;
for my $path ('/rr', '/rsl')
{
	for my $r (@{ $recv->requests(path => $path) })
	{
		my $body = eval { JSON::PP->new->decode($r->{body}) } or next;
		$after_kill{ $body->{id} }++ if $r->{received_at} > $kill_time;
	}
}
is(scalar(grep { $after_kill{$_} } @retry_ids, @slow_ids), 5,
	'(5) the retry-waiting and in-flight events were each sent again after the worker was stopped');
is(delivered_state(10, @retry_ids, @slow_ids, @away_ids, @hold_ids), '8/8',
	'(5) event_log shows all eight delivered');
is_deeply(distinct_sorted(event_ids_received($recv, path => '/rr')), [ sort @retry_ids ],
	'(5) /rr got exactly the retry-waiting event ids');
is_deeply(distinct_sorted(event_ids_received($recv, path => '/rsl')), [ sort @slow_ids ],
	'(5) /rsl got exactly the in-flight event ids');
is_deeply(distinct_sorted(event_ids_received($recv, path => '/raw')), [ sort @away_ids ],
	'(5) /raw got exactly the event ids committed around the restart');
$pid = $new_pid;

# =============================================================================================
# (7) worker_status: retry-waiting events are pending but not due; 0 once all is delivered
# =============================================================================================
is( poll_sql($node,
		q{SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered OR error OR archived},
		'0', 10),
	'0', '(7) every event of the cases above is delivered');
is( poll_queue_counts($node, '0/0'),
	'0/0', '(7) worker_status: events_pending 0 once everything is delivered');

make_table_and_trigger('t_status', 'status', '/st', '{"num_retries": 3, "interval_sec": 4}');
$recv->set_rule('/st', status => 500);
sq(q{INSERT INTO t_status SELECT g, 'status' FROM generate_series(1, 2) g});
my @st_ids = all_events('status');
ok(wait_ids('/st', \@st_ids, 1, 10), '(7) two events answered 500 once');
is( poll_queue_counts($node, '2/0', 3),
	'2/0', '(7) worker_status counts the two retry-waiting events as pending, none due');
is( sq(q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'status'
         AND NOT delivered AND next_retry_at > now()}),
	'2', '(7) ... while their retry is still in the future');
$recv->clear_rules;
ok(wait_ids('/st', \@st_ids, 2, 12), '(7) both retried when due');
is(delivered_state(10, @st_ids), '2/2', '(7) ... and recorded delivered');
is_deeply(distinct_sorted(event_ids_received($recv, path => '/st')), [ sort @st_ids ],
	'(7) the receiver got exactly the two event ids');
is( poll_queue_counts($node, '0/0'),
	'0/0', '(7) worker_status: events_pending back to 0');
is(delivery_worker_pid($node) // 'none', $pid, '(7) same worker since the restart of (5)');

$node->stop;
done_testing();
