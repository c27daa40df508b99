# Many databases (issue 16 (6)): a database without the extension holds no slot of the
# launcher's shared table, so a cluster with more databases than slots still serves the one
# that has it; and when databases *with* the extension outnumber eventhooks.max_databases, a
# WARNING names the one left without a worker and the setting to raise, and it is served as
# soon as a place frees.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/031_many_databases.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);

# A table "items" with an INSERT event trigger $trigger sending to $path, in database $db.
sub setup_trigger
{
	my ($node, $db, $trigger, $path) = @_;
	my $url = $recv->url($path);
	$node->safe_psql($db, qq{
		CREATE TABLE items (id int PRIMARY KEY, note text);
		SELECT eventhooks.create_event_trigger('$trigger', 'items', '$url', on_insert => '{}');
	});
}

# Delivery workers running now, as "datname" lines.
sub worker_databases
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') FROM pg_stat_activity "
		  . "WHERE backend_type = 'pg_eventhooks delivery'");
}

# Waits (bounded) until no delivery worker has been seen for $quiet seconds: the launcher has
# checked every database and the checks have ended.
sub wait_for_checks_done
{
	my ($node, $quiet, $timeout) = @_;
	my $deadline = time() + $timeout;
	my $quiet_since = time();
	while (time() < $deadline)
	{
		$quiet_since = time() if worker_databases($node) ne '';
		return 1 if time() - $quiet_since >= $quiet;
		usleep(100_000);
	}
	return 0;
}

# =============================================================================================
# 70 databases, only the 70th with the extension (default eventhooks.max_databases, 64)
# =============================================================================================
my $node = new_eventhooks_node('many');
my $t0 = time();
$node->safe_psql('postgres',
	join('', map { sprintf("CREATE DATABASE db%03d;\n", $_) } 1 .. 70));
note(sprintf('70 databases created in %.1f s', time() - $t0));
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_database WHERE datallowconn AND NOT datistemplate"),
	'71', '71 connectable databases (postgres and db001..db070)');
# The launcher checks each of them (its worker finds no extension and exits).
ok(wait_for_checks_done($node, 2, 60), 'the launcher has checked the databases (no worker stays)');

$node->safe_psql('db070', 'CREATE EXTENSION pg_eventhooks');
my $pid = wait_for_delivery_worker($node, 15, undef, 'db070');
ok(defined $pid, 'db070 (the 70th database, the only one with the extension) gets a delivery worker');
setup_trigger($node, 'db070', 'hook70', '/db070');
$node->safe_psql('db070', q{INSERT INTO items VALUES (1, 'seventieth')});
my $event = $node->safe_psql('db070', 'SELECT id FROM eventhooks.event_log');
ok($recv->wait_for_count(1, path => '/db070', timeout => 20),
	'an INSERT in db070 is delivered to the receiver');
is_deeply([ event_ids_received($recv, path => '/db070') ], [$event],
	'... exactly its event');
is( poll_sql($node, 'SELECT delivered FROM eventhooks.event_log', 't', 10, 'db070'),
	't', '... and recorded delivered');
is($node->safe_psql('db070', 'SELECT database_name FROM eventhooks.worker_status'),
	'db070', 'worker_status lists db070 only (no row for the databases without the extension)');
is(worker_databases($node), 'db070', 'the only delivery worker running is db070\'s');
unlike(slurp_file($node->logfile), qr/eventhooks\.max_databases/,
	'no warning about eventhooks.max_databases (no place is short)');

# After a restart, the launcher checks all 71 again and finds db070 among them.
$node->restart;
$pid = wait_for_delivery_worker($node, 30, undef, 'db070');
ok(defined $pid, 'after a restart: db070 gets its worker again');
$node->safe_psql('db070', q{INSERT INTO items VALUES (2, 'after restart')});
ok($recv->wait_for_count(2, path => '/db070', timeout => 20),
	'after a restart: a new event in db070 is delivered');
$node->stop;

# =============================================================================================
# eventhooks.max_databases = 2: the third database with the extension gets no worker, with a
# WARNING that names it; databases without the extension take no place; a freed place serves it
# =============================================================================================
my $few = new_eventhooks_node('few', conf => ['eventhooks.max_databases = 2']);
my (undef, $shown) = $few->psql('postgres', 'SHOW eventhooks.max_databases');
is($shown, '2', 'eventhooks.max_databases is a setting (2 here)');
$few->safe_psql('postgres', join('', map { "CREATE DATABASE plain$_;\n" } 1 .. 6));
ok(wait_for_checks_done($few, 2, 30), 'six databases without the extension checked');

for my $db ('ext1', 'ext2')
{
	$few->safe_psql('postgres', "CREATE DATABASE $db");
	$few->safe_psql($db, 'CREATE EXTENSION pg_eventhooks');
	ok(defined wait_for_delivery_worker($few, 15, undef, $db), "$db gets a delivery worker");
	setup_trigger($few, $db, "hook_$db", "/$db");
}
my $log_offset = -s $few->logfile;
$few->safe_psql('postgres', 'CREATE DATABASE ext3');
$few->safe_psql('ext3', 'CREATE EXTENSION pg_eventhooks');
my $warning = wait_for_log($few, qr/WARNING:.*pg_eventhooks/, 15, $log_offset);
like($warning // '', qr/no delivery worker for database "ext3".*eventhooks\.max_databases/,
	'the third database with the extension: a WARNING names it and eventhooks.max_databases');
like(wait_for_log($few, qr/HINT:.*eventhooks\.max_databases/, 5, $log_offset) // '',
	qr/Raise eventhooks\.max_databases/, '... and its hint says to raise it');
setup_trigger($few, 'ext3', 'hook_ext3', '/ext3');
$few->safe_psql('ext3', q{INSERT INTO items VALUES (1, 'waits for a place')});
is($few->safe_psql('ext3', q{SELECT count(*) FROM eventhooks.worker_status
                             WHERE database_name = 'ext3'}),
	'0', '... worker_status has no row for it');
$few->safe_psql('ext1', q{INSERT INTO items VALUES (1, 'ext1')});
ok($recv->wait_for_count(1, path => '/ext1', timeout => 20),
	'ext1 (with a place) delivers meanwhile');
is($recv->count(path => '/ext3'), 0, 'ext3 sends nothing while it has no place');
my $warnings = () = slurp_file($few->logfile, $log_offset) =~ /no delivery worker for database/g;
cmp_ok($warnings, '<=', 2, "... and is not warned about in a loop ($warnings warnings)");

# DROP EXTENSION in ext2 frees a place: ext3 gets it and sends its waiting event.
$few->safe_psql('ext2', 'DROP EXTENSION pg_eventhooks CASCADE');
ok(defined wait_for_delivery_worker($few, 15, undef, 'ext3'),
	'once ext2 drops the extension, ext3 gets a delivery worker');
ok($recv->wait_for_count(1, path => '/ext3', timeout => 20),
	'... and its waiting event is delivered');
is($few->safe_psql('postgres', q{SELECT string_agg(datname, ',' ORDER BY datname)
		FROM pg_stat_activity WHERE backend_type = 'pg_eventhooks delivery'}),
	'ext1,ext3', 'delivery workers run for ext1 and ext3 only');
$few->stop;

done_testing();
