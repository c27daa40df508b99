# Concurrent writers on one table with an event trigger (SPEC §2, §4; GUIDE §1, §5): the
# enqueue half never makes writers wait for each other (nor for the delivery worker, which is
# busy delivering meanwhile), and every committed row change is recorded exactly once and
# delivered.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/040_concurrent_writers.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time usleep);

my $clients = 8;
my $transactions = 500;
my $rows = $clients * $transactions;

my $recv = start_receiver(quiet => 1);
# The worker is kept busy delivering while the writers run (the realistic case).
$recv->set_rule('/w', delay_ms => 5);

# log_lock_waits: any lock wait longer than deadlock_timeout is logged, so waits between the
# samples below do not go unseen.
my $node = new_eventhooks_node(
	'writers',
	conf => [ 'max_connections = 40', 'log_lock_waits = on', "deadlock_timeout = '100ms'" ]);
$node->safe_psql('postgres', 'CREATE EXTENSION pg_eventhooks');
my $url = $recv->url('/w');
$node->safe_psql('postgres', qq{
	CREATE TABLE w (id bigserial PRIMARY KEY, client int NOT NULL, note text);
	SELECT eventhooks.create_event_trigger('tw', 'w', '$url', on_insert => '{}');
});

# Lock waits other than relation extension (which concurrent inserts into any table may
# briefly wait for): a writer waiting for another transaction or for a table lock.
my $lock_waits_sql = q{
	SELECT string_agg(format('%s %s %s (pid %s, %s, blocked by %s)', l.locktype, l.mode,
			coalesce(l.relation::regclass::text, ''), l.pid, a.backend_type,
			pg_blocking_pids(l.pid)), '; ')
	FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
	WHERE NOT l.granted AND l.locktype <> 'extend'};

# --- many writers -------------------------------------------------------------------------

# --rate spreads the transactions over ~2 s, so that they overlap with the worker's deliveries
# and with the lock sampling (unthrottled, 4000 one-row inserts take a fraction of a second).
my $script = $node->basedir . '/insert_one.sql';
append_to_file($script, "INSERT INTO w (client, note) VALUES (:client_id, 'pgbench');\n");
my ($out, $err) = ('', '');
my $log_offset = -s $node->logfile;
my $t0 = time();
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-c', $clients, '-j', 2, '-t', $transactions, '-R', 2000,
		'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$out, '2>', \$err,
	IPC::Run::timeout(180));

# Watch for lock waits while pgbench runs (one persistent session, sampled continuously).
my $watch = $node->background_psql('postgres');
my @waits;
my $samples = 0;
while ($pgbench->pumpable)
{
	$pgbench->pump_nb;
	my $w = $watch->query_safe($lock_waits_sql);
	$samples++;
	push @waits, $w if $w ne '';
	usleep(20_000);
}
$pgbench->finish;
my $took = time() - $t0;
my $rc = $?;
note(sprintf('pgbench: %d clients x %d transactions in %.1f s, %d lock samples',
		$clients, $transactions, $took, $samples));
note($out);
is($rc, 0, 'pgbench ran without errors') or diag($err);
like($out, qr{number of transactions actually processed: $rows/$rows},
	"all $rows insert transactions committed");
unlike($out, qr{number of failed transactions: [1-9]}, 'no failed transactions');
cmp_ok($samples, '>', 0, 'lock waits were sampled while the writers ran');
is(scalar @waits, 0, 'no writer waited for a lock held by another writer or by the worker')
  or diag(join("\n", @waits[ 0 .. ($#waits < 9 ? $#waits : 9) ]));
my @logged_waits = grep { /still waiting for|acquired \S+ on/ && !/extension of relation/ }
  split /\n/, slurp_file($node->logfile, $log_offset);
is(scalar @logged_waits, 0, 'no lock wait over deadlock_timeout (100 ms) in the server log')
  or diag(join("\n", @logged_waits[ 0 .. ($#logged_waits < 9 ? $#logged_waits : 9) ]));

# --- one open transaction does not hold up other writers or delivery -------------------------

my $a = $node->background_psql('postgres');
$a->query_safe('BEGIN');
$a->query_safe("INSERT INTO w (client, note) VALUES (-1, 'A, open')");
is($a->query_safe("SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'tw' "
		. "AND payload->'data'->'new'->>'note' = 'A, open'"),
	'1', 'session A: event written in its open transaction');

$t0 = time();
my ($b_rc, $b_out, $b_err) = $node->psql('postgres', q{
	SET statement_timeout = '2s';
	INSERT INTO w (client, note) VALUES (-2, 'B, committed') RETURNING id;
}, timeout => 30, timed_out => \my $b_timed_out);
my $b_took = time() - $t0;
is($b_rc, 0, 'session B inserts and commits while A is open (statement_timeout 2 s)')
  or diag($b_err);
note(sprintf('session B took %.2f s', $b_took));
is($watch->query_safe($lock_waits_sql), '', 'pg_locks: no lock wait while A is open');

# B's event reaches the receiver while A's transaction is still open.
my $b_delivered;
my $deadline = time() + 30;
while (time() < $deadline && !$b_delivered)
{
	for my $r (@{ $recv->requests(path => '/w') })
	{
		my $body = eval { JSON::PP->new->decode($r->{body}) } or next;
		$b_delivered = 1 if ($body->{event}{data}{new}{note} // '') eq 'B, committed';
	}
	usleep(200_000) unless $b_delivered;
}
ok($b_delivered, "B's event is delivered while A's transaction is still open");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM eventhooks.event_log WHERE payload->'data'->'new'->>'note' = 'A, open'"),
	'0', "A's uncommitted event is invisible to others");
$a->query_safe('COMMIT');
$a->quit;
$watch->quit;

# --- every row recorded exactly once, and delivered ---------------------------------------------

my $total = $rows + 2;
is($node->safe_psql('postgres', 'SELECT count(*) FROM w'), $total, "$total rows in the table");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'tw'"),
	$total, 'as many events as rows');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*)
	FROM w
	FULL JOIN (SELECT (payload->'data'->'new'->>'id')::bigint AS id, count(*) AS n
	           FROM eventhooks.event_log WHERE trigger_name = 'tw' GROUP BY 1) e ON e.id = w.id
	WHERE w.id IS NULL OR e.n IS DISTINCT FROM 1}),
	'0',
	'every row id appears in exactly one event, and every event names a row');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'tw' "
		  . "AND payload->>'op' IS DISTINCT FROM 'INSERT'"),
	'0', 'all events are INSERT events');

ok( $node->poll_query_until('postgres',
		"SELECT count(*) FILTER (WHERE NOT delivered) = 0 FROM eventhooks.event_log"),
	'all events delivered');
usleep(300_000);
my @received = event_ids_received($recv, path => '/w');
my %times;
$times{$_}++ for @received;
my @logged = split /\n/,
  $node->safe_psql('postgres', "SELECT id FROM eventhooks.event_log WHERE trigger_name = 'tw'");
my %in_log = map { $_ => 1 } @logged;
note(sprintf('%d requests for %d events', scalar @received, scalar @logged));
is(scalar(grep { !$times{$_} } @logged), 0, 'every event reached the receiver');
is(scalar(grep { !$in_log{$_} } keys %times), 0, 'the receiver got no unknown event');
is(scalar(grep { $times{$_} > 1 } keys %times), 0,
	'no duplicates (no crash, every first attempt succeeded)');

$node->stop;
done_testing();
