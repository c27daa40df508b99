# At-least-once delivery of pg_eventhooks across crashes (SPEC §4, GUIDE §4-§5): after a
# kill -9 of the delivery worker, a kill -9 of a backend mid-transaction, and an immediate
# shutdown mid-drain, every committed event reaches the receiver at least once, none stays
# pending or claimed, uncommitted events never appear, and duplicates stay within what can
# have been in flight at the crash.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/020_at_least_once.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Time::HiRes qw(time usleep);

# Small in-flight limits: the drains take long enough to be interrupted, and the bound on
# duplicates (max_concurrent_deliveries + fetch_batch_size) is tight enough to mean something.
my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node(
	'alo',
	conf => [
		"eventhooks.max_concurrent_deliveries = 10",
		"eventhooks.fetch_batch_size = 25",
		"restart_after_crash = on",
	]);
$node->safe_psql('postgres', 'CREATE EXTENSION pg_eventhooks');

my $max_dups = $node->safe_psql('postgres', 'SHOW eventhooks.max_concurrent_deliveries')
  + $node->safe_psql('postgres', 'SHOW eventhooks.fetch_batch_size');
note("duplicate bound: $max_dups (max_concurrent_deliveries + fetch_batch_size)");

# --- helpers -----------------------------------------------------------------------------



# After a crash: wait until the server accepts connections again (crash recovery done).
sub wait_for_server_back
{
	my ($timeout) = @_;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		my ($rc, $out) = $node->psql('postgres', 'SELECT NOT pg_is_in_recovery()');
		return 1 if $rc == 0 && $out eq 't';
		usleep(200_000);
	}
	return 0;
}

sub make_table
{
	my ($table, $trigger, $path) = @_;
	my $url = $recv->url($path);
	$node->safe_psql('postgres', qq{
		CREATE TABLE $table (id int PRIMARY KEY, note text);
		SELECT eventhooks.create_event_trigger('$trigger', '$table', '$url', on_insert => '{}');
	});
}

# The checks every case ends with. Waits (bounded) for the drain to finish, then compares
# the committed events with what the receiver got.
sub check_all_delivered
{
	my ($trigger, $path, $expected_events, $label, $crash_time) = @_;
	my $pending_sql =
	  "SELECT count(*) FILTER (WHERE NOT delivered) FROM eventhooks.event_log "
	  . "WHERE trigger_name = '$trigger'";
	my $deadline = time() + 180;
	my $pending;
	while (time() < $deadline)
	{
		my ($rc, $out) = $node->psql('postgres', $pending_sql);
		$pending = $out if $rc == 0;
		last if defined $pending && $pending eq '0';
		usleep(250_000);
	}
	is($pending, '0', "$label: no event left pending");
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = '$trigger' "
			  . "AND (locked IS NOT NULL OR error OR archived)"),
		'0',
		"$label: no event stuck claimed (locked), failed or archived");

	my @logged = split /\n/,
	  $node->safe_psql('postgres',
		"SELECT id FROM eventhooks.event_log WHERE trigger_name = '$trigger'");
	is(scalar @logged, $expected_events, "$label: $expected_events events committed");

	usleep(300_000);    # a request recorded by the receiver but not yet answered is still counted
	my @received;
	my %times;
	my %first_at;
	for my $r (@{ $recv->requests(path => $path) })
	{
		my $body = eval { JSON::PP->new->decode($r->{body}) };
		next unless ref $body eq 'HASH' && defined $body->{id};
		push @received, $body->{id};
		$times{ $body->{id} }++;
		$first_at{ $body->{id} } //= $r->{received_at};
	}
	my %in_log = map { $_ => 1 } @logged;
	my @missing = grep { !$times{$_} } @logged;
	my @unknown = grep { !$in_log{$_} } keys %times;
	my @duplicated = grep { $times{$_} > 1 } keys %times;
	my $extra_requests = scalar(@received) - scalar(keys %times);
	note(sprintf('%s: %d events, %d requests, %d distinct ids, %d ids received more than '
			. 'once (%d extra requests), %d missing, %d unknown',
			$label, scalar @logged, scalar @received, scalar(keys %times),
			scalar @duplicated, $extra_requests, scalar @missing, scalar @unknown));
	is(scalar @missing, 0, "$label: every committed event was received at least once")
	  or diag('missing: ' . join(' ', @missing[ 0 .. ($#missing < 9 ? $#missing : 9) ]));
	is(scalar @unknown, 0, "$label: the receiver got no event that is not in event_log")
	  or diag('unknown: ' . join(' ', @unknown[ 0 .. ($#unknown < 9 ? $#unknown : 9) ]));
	cmp_ok($extra_requests, '<=', $max_dups,
		"$label: duplicates ($extra_requests) within max_concurrent_deliveries + fetch_batch_size");
	# A duplicate must be an event that was in flight at the crash: first sent before it
	# (1 s of slack for the receiver to read what was already on the wire).
	my @late = grep { $first_at{$_} > $crash_time + 1 } @duplicated;
	is(scalar @late, 0, "$label: every duplicated event was first sent before the crash")
	  or diag('first sent after the crash: ' . join(' ', @late[ 0 .. ($#late < 9 ? $#late : 9) ]));
	return \@received;
}

sub log_size { -s $node->logfile }

# --- (a) kill -9 of the delivery worker in the middle of a drain ----------------------------

$recv->set_rule('/a', delay_ms => 20);
make_table('a_items', 'ta', '/a');
my $worker = wait_for_delivery_worker($node, 10);
ok(defined $worker, 'delivery worker runs');

my $log_offset = log_size();
$node->safe_psql('postgres',
	"INSERT INTO a_items SELECT g, 'a' FROM generate_series(1, 2000) g");
ok($recv->wait_for_count(200, path => '/a', timeout => 60), '(a) drain of 2000 events started');
$worker = delivery_worker_pid($node);
ok(defined $worker, '(a) found the delivery worker');
my $crash_a = time();
kill 'KILL', $worker if defined $worker;
my $at_kill = $recv->count(path => '/a');
note("(a) kill -9 of delivery worker $worker with $at_kill of 2000 requests received");
cmp_ok($at_kill, '<', 2000, '(a) the worker was killed mid-drain');

ok(wait_for_server_back(60), '(a) server back after crash recovery');
ok( $node->wait_for_log(qr/pg_eventhooks delivery.*terminated by signal 9|terminated by signal 9: Killed/, $log_offset),
	'(a) the postmaster saw the worker die of SIGKILL');
my $new_worker = wait_for_delivery_worker($node, 30, $worker);
ok(defined $new_worker, '(a) a new delivery worker runs after the crash');
check_all_delivered('ta', '/a', 2000, '(a)', $crash_a);

# --- (b) kill -9 of a backend in the middle of a transaction --------------------------------

$recv->set_rule('/b', delay_ms => 20);
make_table('b_items', 'tb', '/b');
$node->safe_psql('postgres',
	"INSERT INTO b_items SELECT g, 'committed' FROM generate_series(1, 100) g");

my $bg = $node->background_psql('postgres', on_error_stop => 0);
my $bg_pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_safe('BEGIN');
$bg->query_safe(
	"INSERT INTO b_items SELECT g, 'uncommitted' FROM generate_series(10001, 10100) g");
$node->safe_psql('postgres',
	"INSERT INTO b_items SELECT g, 'committed' FROM generate_series(101, 200) g");
$bg->query_safe(
	"INSERT INTO b_items SELECT g, 'uncommitted' FROM generate_series(10101, 10200) g");
is( $bg->query_safe(
		"SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'tb' "
		  . "AND payload->'data'->'new'->>'note' = 'uncommitted'"),
	'200',
	'(b) the open transaction has written 200 events');
$node->safe_psql('postgres',
	"INSERT INTO b_items SELECT g, 'committed' FROM generate_series(201, 300) g");
ok($recv->wait_for_count(20, path => '/b', timeout => 60), '(b) delivery of committed events started');

$log_offset = log_size();
ok($bg_pid =~ /^\d+$/, "(b) backend pid of the open transaction: $bg_pid");
my $crash_b = time();
kill 'KILL', $bg_pid;
note('(b) kill -9 of backend ' . $bg_pid . ' with ' . $recv->count(path => '/b')
	  . ' requests received');
eval { $bg->quit };    # its connection is gone; psql just exits

ok(wait_for_server_back(60), '(b) server back after crash recovery');
ok(defined wait_for_delivery_worker($node, 30), '(b) a delivery worker runs after the crash');
is($node->safe_psql('postgres', "SELECT count(*) FROM b_items WHERE note = 'uncommitted'"),
	'0', '(b) the killed transaction left no rows');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'tb' "
		  . "AND payload->'data'->'new'->>'note' <> 'committed'"),
	'0',
	'(b) the killed transaction left no events in event_log');
check_all_delivered('tb', '/b', 300, '(b)', $crash_b);
my $uncommitted = 0;
for my $r (@{ $recv->requests(path => '/b') })
{
	my $body = eval { JSON::PP->new->decode($r->{body}) } or next;
	my $note = $body->{event}{data}{new}{note} // '';
	$uncommitted++ if $note ne 'committed';
}
is($uncommitted, 0, '(b) the receiver never got an event of the killed transaction');

# --- (c) immediate shutdown in the middle of a drain of 10,000 events ----------------------

make_table('c_items', 'tc', '/c');
$node->safe_psql('postgres',
	"INSERT INTO c_items SELECT g, 'c' FROM generate_series(1, 10000) g");
ok($recv->wait_for_count(1000, path => '/c', timeout => 90), '(c) drain of 10,000 events started');
my $crash_c = time();
$node->stop('immediate');
usleep(500_000);    # requests already on the wire are still read and recorded
my $at_stop = $recv->count(path => '/c');
note("(c) immediate shutdown with $at_stop of 10000 requests received");
cmp_ok($at_stop, '<', 10000, '(c) the server stopped mid-drain');
sleep 1;
my $while_down = $recv->count(path => '/c');
is($while_down, $at_stop, '(c) nothing is sent while the server is down');

$node->start;
ok(defined wait_for_delivery_worker($node, 30), '(c) a delivery worker runs after the restart');
check_all_delivered('tc', '/c', 10000, '(c)', $crash_c);

# Earlier cases are not disturbed by the later crashes.
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered OR locked IS NOT NULL"),
	'0',
	'no event of any case is pending or claimed at the end');

$node->stop;
done_testing();
