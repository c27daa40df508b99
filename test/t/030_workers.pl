# Worker lifecycle of pg_eventhooks (SPEC §1, §4; GUIDE §4): the launcher, one delivery
# worker per database that has the extension, started right after CREATE EXTENSION and at
# server start, gone after DROP EXTENSION / DROP DATABASE, restarted after SIGTERM, nothing
# on a hot standby and delivery after its promotion.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/030_workers.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Time::HiRes qw(time usleep);

# --- helpers -----------------------------------------------------------------------------

# Polls $check (a sub returning true when done) every 100 ms for up to $timeout seconds.
# Returns the seconds it took, or undef on timeout.
sub wait_until
{
	my ($timeout, $check) = @_;
	my $start = time();
	while (1)
	{
		return time() - $start if $check->();
		return undef if time() - $start > $timeout;
		usleep(100_000);
	}
}

# Pids of the delivery workers of database $db (as a list), '' when there are none.
# Connection failures (server restarting) count as "none".
sub delivery_pids
{
	my ($node, $db) = @_;
	my ($rc, $out) = $node->psql('postgres',
		"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity "
		  . "WHERE backend_type = 'pg_eventhooks delivery' AND datname = '$db'");
	return $rc == 0 ? ($out // '') : '';
}

sub launcher_pid
{
	my ($node) = @_;
	my ($rc, $out) = $node->psql('postgres',
		"SELECT string_agg(pid::text, ',') FROM pg_stat_activity "
		  . "WHERE backend_type = 'pg_eventhooks launcher'");
	return $rc == 0 ? ($out // '') : '';
}

# Waits for exactly one delivery worker in $db; returns its pid (undef on timeout).
sub wait_for_worker
{
	my ($node, $db, $timeout, $not_pid) = @_;
	my $pid;
	my $took = wait_until(
		$timeout,
		sub {
			my $p = delivery_pids($node, $db);
			return 0 unless $p =~ /^\d+$/;
			return 0 if defined $not_pid && $p eq $not_pid;
			$pid = $p;
			return 1;
		});
	note(sprintf("delivery worker of %s: %s after %.2f s",
			$db, $pid // 'none', $took // -1));
	return defined $took ? $pid : undef;
}

sub wait_for_no_worker
{
	my ($node, $db, $timeout) = @_;
	my $took = wait_until($timeout, sub { delivery_pids($node, $db) eq '' });
	note(sprintf("no delivery worker in %s after %.2f s", $db, $took // -1));
	return defined $took;
}

# True when no delivery worker stays in $db during $seconds (sampled every 200 ms). The
# launcher may start a worker in a database it has not checked yet; that worker finds no
# extension and exits at once: a sighting that lasts less than a second is only noted.
sub stays_without_worker
{
	my ($node, $db, $seconds) = @_;
	my $deadline = time() + $seconds;
	my (%first, %last);
	while (time() < $deadline)
	{
		for my $pid (grep { /^\d+$/ } split /,/, delivery_pids($node, $db))
		{
			$first{$pid} //= time();
			$last{$pid} = time();
		}
		usleep(200_000);
	}
	my %now = map { $_ => 1 } split /,/, delivery_pids($node, $db);
	my $ok = 1;
	for my $pid (sort keys %first)
	{
		my $stayed = $now{$pid} || $last{$pid} - $first{$pid} > 1;
		note("delivery worker $pid seen in $db" . ($stayed ? ' (stays)' : ' (transient)'));
		$ok = 0 if $stayed;
	}
	return $ok;
}

sub setup_table
{
	my ($node, $db, $trigger, $url, %opts) = @_;
	my $retry = $opts{retry_conf} // '{}';
	$node->safe_psql($db, qq{
		CREATE TABLE items (id int PRIMARY KEY, note text);
		SELECT eventhooks.create_event_trigger('$trigger', 'items', '$url',
			on_insert => '{}', retry_conf => '$retry');
	});
}

sub event_ids_in_log
{
	my ($node, $db, $trigger) = @_;
	return sort split /\n/,
	  $node->safe_psql($db,
		"SELECT id FROM eventhooks.event_log WHERE trigger_name = '$trigger' ORDER BY id");
}

# ERROR/FATAL/PANIC lines of the server log from byte $offset on.
sub log_problems
{
	my ($node, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	return grep { /\b(ERROR|FATAL|PANIC):/ || /terminated by signal|exited with exit code [^0]/ }
	  split /\n/, $log;
}

my $recv = start_receiver(quiet => 1);

# --- launcher and CREATE EXTENSION ----------------------------------------------------------

my $node = new_eventhooks_node('workers');

ok(defined wait_until(15, sub { launcher_pid($node) =~ /^\d+$/ }),
	'one launcher (backend_type "pg_eventhooks launcher") runs after server start');

$node->safe_psql('postgres', 'CREATE DATABASE db1');
# Let the launcher notice db1 (its first worker there finds no extension and exits quietly).
ok(stays_without_worker($node, 'db1', 3),
	'no delivery worker stays in a database without the extension');

my $t0 = time();
$node->safe_psql('db1', 'CREATE EXTENSION pg_eventhooks');
my $db1_pid = wait_for_worker($node, 'db1', 10);
my $took = time() - $t0;
ok(defined $db1_pid, 'delivery worker appears after CREATE EXTENSION, without restart or config');
# The launcher is woken at commit (~1 s); 5 s of slack for a noisy machine.
cmp_ok($took, '<', 5, sprintf('... promptly (%.2f s)', $took));
is( $node->safe_psql('postgres',
		"SELECT datname FROM pg_stat_activity WHERE pid = " . ($db1_pid // 0)),
	'db1',
	'the delivery worker is connected to its database');
is($node->safe_psql('db1', 'SELECT database_name || pid FROM eventhooks.worker_status'),
	'db1' . ($db1_pid // ''), 'worker_status shows the worker of db1');

# CREATE EXTENSION right after CREATE DATABASE, before or while the launcher's first worker
# for the new database checks for the extension.
for my $i (1 .. 3)
{
	$node->safe_psql('postgres', "CREATE DATABASE race$i");
	$node->safe_psql("race$i", 'CREATE EXTENSION pg_eventhooks');
}
for my $i (1 .. 3)
{
	ok(defined wait_for_worker($node, "race$i", 10),
		"worker starts when CREATE EXTENSION follows CREATE DATABASE at once (race$i)");
}
for my $i (1 .. 3)
{
	$node->safe_psql('postgres', "DROP DATABASE race$i");
}

# --- DROP EXTENSION / CREATE EXTENSION again -------------------------------------------------

$node->safe_psql('db1', 'DROP EXTENSION pg_eventhooks');
ok(wait_for_no_worker($node, 'db1', 10), 'DROP EXTENSION: the delivery worker exits');
ok(stays_without_worker($node, 'db1', 2), '... and is not started again');

$db1_pid = undef;
$t0 = time();
$node->safe_psql('db1', 'CREATE EXTENSION pg_eventhooks');
$db1_pid = wait_for_worker($node, 'db1', 10);
$took = time() - $t0;
ok(defined $db1_pid, 'CREATE EXTENSION again: a delivery worker again');
cmp_ok($took, '<', 5, sprintf('... promptly (%.2f s)', $took));

# --- SIGTERM: the launcher restarts the worker ------------------------------------------------

my $launcher = launcher_pid($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($db1_pid)");
my $new_pid = wait_for_worker($node, 'db1', 15, $db1_pid);
ok(defined $new_pid, "worker terminated with pg_terminate_backend is restarted (was $db1_pid)");
is(launcher_pid($node), $launcher, '... by the same launcher (no crash restart)');
$db1_pid = $new_pid;

# --- two databases, each with its own worker, each delivering its own events ----------------

$node->safe_psql('postgres', 'CREATE DATABASE db2');
$node->safe_psql('db2', 'CREATE EXTENSION pg_eventhooks');
my $db2_pid = wait_for_worker($node, 'db2', 10);
ok(defined $db2_pid, 'db2 gets its own delivery worker');
isnt($db2_pid // '', $db1_pid // '', '... a different process than db1\'s');
is(delivery_pids($node, 'db1'), $db1_pid // '', '... and db1 keeps exactly one worker');

setup_table($node, 'db1', 'items_db1', $recv->url('/db1'));
setup_table($node, 'db2', 'items_db2', $recv->url('/db2'));
$node->safe_psql('db1', 'INSERT INTO items SELECT g, \'db1\' FROM generate_series(1, 5) g');
$node->safe_psql('db2', 'INSERT INTO items SELECT g, \'db2\' FROM generate_series(1, 7) g');
ok($recv->wait_for_count(5, path => '/db1', timeout => 30), 'db1 events delivered to /db1');
ok($recv->wait_for_count(7, path => '/db2', timeout => 30), 'db2 events delivered to /db2');
usleep(500_000);    # let any stray request arrive before comparing
is_deeply([ sort(event_ids_received($recv, path => '/db1')) ],
	[ event_ids_in_log($node, 'db1', 'items_db1') ],
	'/db1 received exactly the events of db1');
is_deeply([ sort(event_ids_received($recv, path => '/db2')) ],
	[ event_ids_in_log($node, 'db2', 'items_db2') ],
	'/db2 received exactly the events of db2');
ok( $node->poll_query_until('db1',
		"SELECT count(*) FILTER (WHERE NOT delivered) = 0 FROM eventhooks.event_log"),
	'db1 events all marked delivered');
ok( $node->poll_query_until('db2',
		"SELECT count(*) FILTER (WHERE NOT delivered) = 0 FROM eventhooks.event_log"),
	'db2 events all marked delivered');

# --- DROP DATABASE of a database whose worker is idle ---------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE db3');
$node->safe_psql('db3', 'CREATE EXTENSION pg_eventhooks');
my $db3_pid = wait_for_worker($node, 'db3', 10);
ok(defined $db3_pid, 'db3 has a delivery worker');
sleep 1;    # idle: sleeping on its latch
$t0 = time();
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE db3', timeout => 60, timed_out => \my $to1);
$took = time() - $t0;
is($rc, 0, 'DROP DATABASE (without FORCE) of a database with an idle worker succeeds')
  or diag($err);
cmp_ok($took, '<', 10, sprintf('... promptly (%.2f s)', $took));
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = " . ($db3_pid // 0)),
	'0', '... and its worker is gone');
ok(stays_without_worker($node, 'db3', 2), '... and no worker comes back for it');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'db3'"),
	'0', '... the database is gone');

# --- statements that need a database without other connections -----------------------------
# The worker connected to a database must not make CREATE DATABASE ... TEMPLATE or ALTER
# DATABASE ... RENAME fail with "is being accessed by other users"; it is stopped first and
# served again afterwards.

$node->safe_psql('postgres', 'CREATE DATABASE tmpl');
$node->safe_psql('tmpl', 'CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_worker($node, 'tmpl', 10), 'tmpl has a delivery worker');
($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE tmpl_copy TEMPLATE tmpl', timeout => 60);
is($rc, 0, 'CREATE DATABASE ... TEMPLATE of a database with a worker succeeds') or diag($err);
ok(defined wait_for_worker($node, 'tmpl', 10), '... the template is served again afterwards');
ok(defined wait_for_worker($node, 'tmpl_copy', 10), '... and the copy (which has the extension) too');
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE tmpl RENAME TO tmpl_renamed', timeout => 60);
is($rc, 0, 'ALTER DATABASE ... RENAME of a database with a worker succeeds') or diag($err);
ok(defined wait_for_worker($node, 'tmpl_renamed', 10), '... and it is served under its new name');
for my $db ('tmpl_renamed', 'tmpl_copy')
{
	($rc, $out, $err) = $node->psql('postgres', "DROP DATABASE $db", timeout => 60);
	is($rc, 0, "DROP DATABASE $db succeeds") or diag($err);
}

# --- DROP EXTENSION while a drain is in progress --------------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE db4');
$node->safe_psql('db4', 'CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_worker($node, 'db4', 10), 'db4 has a delivery worker');
$recv->set_rule('/drain', delay_ms => 50);
setup_table($node, 'db4', 'items_db4', $recv->url('/drain'));
my $log_offset = -s $node->logfile;
$node->safe_psql('db4', 'INSERT INTO items SELECT g, \'drain\' FROM generate_series(1, 500) g');
ok($recv->wait_for_count(50, path => '/drain', timeout => 30), 'drain of 500 events started');
my $sent_before = $recv->count(path => '/drain');
$t0 = time();
($rc, $out, $err) =
  $node->psql('db4', 'DROP EXTENSION pg_eventhooks CASCADE', timeout => 60, timed_out => \my $to2);
$took = time() - $t0;
is($rc, 0, 'DROP EXTENSION ... CASCADE during a drain completes') or diag($err);
# If it failed (a product bug), drop it anyway so that the rest of the file still tests
# what it is meant to.
for my $attempt (1 .. 10)
{
	last if defined $rc && $rc == 0;
	note("DROP EXTENSION failed, retrying ($attempt): $err");
	($rc, $out, $err) =
	  $node->psql('db4', 'DROP EXTENSION pg_eventhooks CASCADE', timeout => 60, timed_out => \my $to3);
}
note(sprintf('DROP EXTENSION took %.2f s; %d of 500 requests received before it',
		$took, $sent_before));
ok(wait_for_no_worker($node, 'db4', 10), '... and the delivery worker exits');
ok(stays_without_worker($node, 'db4', 2), '... and is not started again');
usleep(500_000);
my $sent_after = $recv->count(path => '/drain');
note("requests to /drain: $sent_after in total");
cmp_ok($sent_after, '<', 500 + 100, 'no storm of requests after the drop');
my @problems = log_problems($node, $log_offset);
is_deeply(\@problems, [], 'no ERROR/FATAL and no abnormal worker exit in the server log')
  or diag(join("\n", @problems));

# --- restart: workers come back only where the extension is ---------------------------------

$node->restart;
ok(defined wait_until(15, sub { launcher_pid($node) =~ /^\d+$/ }),
	'launcher runs after restart');
ok(defined wait_for_worker($node, 'db1', 15), 'after restart: worker for db1');
ok(defined wait_for_worker($node, 'db2', 15), 'after restart: worker for db2');
ok(stays_without_worker($node, 'postgres', 3),
	'after restart: no worker for postgres (no extension there)');
ok(stays_without_worker($node, 'db4', 1),
	'after restart: no worker for db4 (extension dropped)');
$node->safe_psql('db1', 'INSERT INTO items VALUES (100, \'after restart\')');
ok($recv->wait_for_count(6, path => '/db1', timeout => 30),
	'after restart: db1 delivers new events');
$node->stop;

# --- hot standby: nothing runs; after promotion its worker delivers --------------------------
# The primary's trigger points at a port nobody listens on, so its events stay pending
# (connection refused, retried every second). Then the primary stops, a receiver opens that
# port: anything it gets before promotion would come from the standby.

my $closed = start_receiver(quiet => 1);
my $port = $closed->port;
$closed->stop;
my $url = "http://127.0.0.1:$port/standby";

my $primary = new_eventhooks_node('primary', init => { allows_streaming => 1 });
$primary->safe_psql('postgres', 'CREATE DATABASE app');
$primary->safe_psql('app', 'CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_worker($primary, 'app', 10), 'primary: delivery worker runs');
setup_table($primary, 'app', 'items_app', $url,
	retry_conf => '{"num_retries": 10000, "interval_sec": 1, "timeout_sec": 5}');
$primary->safe_psql('app', 'INSERT INTO items SELECT g, \'standby\' FROM generate_series(1, 20) g');
ok( $primary->poll_query_until('app',
		"SELECT count(*) = 20 FROM eventhooks.event_log WHERE tries > 0 AND NOT delivered AND NOT error"),
	'primary: events tried and still pending (webhook unreachable)');

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('app', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
is($standby->safe_psql('app',
		"SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered"), '20',
	'standby has the 20 pending events');

$primary->stop;
my $standby_recv = start_receiver(port => $port, quiet => 1);
sleep 3;
is( $standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_eventhooks%'"),
	'0', 'hot standby: no pg_eventhooks launcher or delivery worker');
is($standby_recv->count, 0, 'hot standby: the receiver gets nothing');

$standby->promote;
ok(defined wait_for_worker($standby, 'app', 20), 'after promotion: a delivery worker runs');
ok($standby_recv->wait_for_count(20, path => '/standby', timeout => 60),
	'after promotion: the pending events are delivered');
ok( $standby->poll_query_until('app',
		"SELECT count(*) FILTER (WHERE NOT delivered) = 0 FROM eventhooks.event_log"),
	'after promotion: all events marked delivered');
my %got = map { $_ => 1 } event_ids_received($standby_recv, path => '/standby');
my @ids = event_ids_in_log($standby, 'app', 'items_app');
is(scalar(grep { !$got{$_} } @ids), 0, 'after promotion: every event id was received');
$standby->stop;

done_testing();
