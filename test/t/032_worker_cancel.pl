# A cancel of the delivery worker (pg_cancel_backend: SIGINT) while it is idle and while it
# drains (issue 16, item 7): it is ignored, as by Postgres's own workers. Before, the cancel
# raised an ERROR outside the worker's SQL wrapper that longjmp'd over its C++ objects and
# ended the process: a new worker then resent the events that were in flight.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('cancel');
sub sq { return $node->safe_psql('postgres', $_[0]); }

sq(q{CREATE EXTENSION pg_eventhooks});
$recv->set_rule('/hook', delay_ms => 100);  # the drain lasts ~2 s: many cancels land in it
sq(qq{
CREATE TABLE t (id int);
SELECT eventhooks.create_event_trigger(name => 'hook', table_name => 't',
  webhook => '@{[ $recv->url('/hook') ]}', on_insert => '{}');
});
my $pid = wait_for_delivery_worker($node, 10);
ok(defined $pid, 'delivery worker running');

# Idle: cancels are ignored, the same worker delivers afterwards.
for (1 .. 5)
{
	is(sq(qq{SELECT pg_cancel_backend($pid)}), 't', 'cancel sent to the idle worker');
	usleep(100_000);
}
sq(q{INSERT INTO t VALUES (0)});
ok($recv->wait_for_count(1, path => '/hook', timeout => 10), 'idle: an event after the cancels is delivered');
is(delivery_worker_pid($node), $pid, 'idle: the same worker process runs on');

# Draining: 2,000 events answered after 100 ms each, cancels every 50 ms meanwhile.
sq(q{INSERT INTO t SELECT g FROM generate_series(1, 2000) g});
my $cancels = 0;
my $deadline = time() + 60;
while ($recv->count(path => '/hook') < 2001 && time() < $deadline && $cancels < 400)
{
	sq(qq{SELECT pg_cancel_backend($pid)});
	$cancels++;
	usleep(50_000);
}
cmp_ok($cancels, '>=', 5, "draining: $cancels cancels sent while the worker drained");
is( poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log WHERE delivered}, '2001', 60),
	'2001', 'draining: every event delivered');
is(delivery_worker_pid($node), $pid, 'draining: the same worker process runs on');
my %seen;
$seen{$_}++ for event_ids_received($recv, path => '/hook');
is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'draining: no event sent twice (nothing was in flight at a restart)');

my $log = slurp_file($node->logfile);
unlike($log, qr/canceling statement due to user request/, 'no cancel error in the server log');
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no crash');

$node->stop;
done_testing();
