# A requeue made while the event's request is in flight wins over that attempt's result
# (issue 16, item 5): the attempt gets its invocation log row, but the event stays pending and
# is sent again. The same for redeliver_event and for a requeue by SQL (UPDATE); a hand change
# that settles the event during the attempt (error = true) wins the same way. The receiver
# holds each request 1.5 s, during which the change is committed.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;

my $json = JSON::PP->new->utf8->canonical;
my $recv = start_receiver(quiet => 1);
# A long fallback poll: the second send must follow the requeue, not a poll.
my $node = new_eventhooks_node('requeue', conf => ["eventhooks.poll_interval = '1h'"]);

sub sq { return $node->safe_psql('postgres', $_[0]); }

sub state_of
{
	my ($id) = @_;
	return sq(qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$id'});
}

sub log_statuses
{
	my ($id) = @_;
	return sq(qq{SELECT count(*) || ':' || coalesce(string_agg(status::text, ',' ORDER BY created_at), '')
	             FROM eventhooks.event_invocation_logs WHERE event_id = '$id'});
}

sq('CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_delivery_worker($node, 10), 'delivery worker running');
sq('CREATE TABLE t (id int)');

my $case = 0;
for my $requeue (
	[ 'redeliver_event', sub { sq("SELECT eventhooks.redeliver_event('$_[0]')") } ],
	[ 'an UPDATE that requeues it',
		sub { sq("UPDATE eventhooks.event_log SET delivered = false, error = false, tries = 0 WHERE id = '$_[0]'") } ])
{
	my ($how, $do) = @$requeue;
	$case++;
	my $path = "/held$case";
	sq(qq{SELECT eventhooks.create_event_trigger(name => 'held$case', table_name => 't',
	        webhook => '@{[ $recv->url($path) ]}', enable_manual => true)});
	$recv->set_rule($path, delay_ms => 1500);
	my $id = sq(qq{SELECT eventhooks.invoke_event_trigger('held$case', '{"case": $case}')});
	ok($recv->wait_for_count(1, path => $path, timeout => 10), "$how: the first attempt is in flight");
	$do->($id);
	ok($recv->wait_for_count(2, path => $path, timeout => 10),
		"$how during the attempt: the event is sent again");
	is(poll_sql($node, qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$id'}, 't', 10),
		't', "$how: delivered in the end");
	is(state_of($id), 'true/false/1', "$how: one try counted since the requeue");
	is(log_statuses($id), '2:200,200', "$how: both attempts have their invocation log row");
	$recv->wait_for_count(3, path => $path, timeout => 2);
	is($recv->count(path => $path), 2, "$how: sent twice, not more");
	my @ids = event_ids_received($recv, path => $path);
	is_deeply(\@ids, [ $id, $id ], "$how: both requests carry the event's id");
}

# A hand change that settles the event during the attempt wins as well.
sq(qq{SELECT eventhooks.create_event_trigger(name => 'cancelled', table_name => 't',
        webhook => '@{[ $recv->url('/cancelled') ]}', enable_manual => true)});
$recv->set_rule('/cancelled', delay_ms => 1500);
my $id = sq(q{SELECT eventhooks.invoke_event_trigger('cancelled', '{}')});
ok($recv->wait_for_count(1, path => '/cancelled', timeout => 10), 'settled by hand: attempt in flight');
sq(qq{UPDATE eventhooks.event_log SET error = true WHERE id = '$id'});
is(poll_sql($node, qq{SELECT count(*) FROM eventhooks.event_invocation_logs WHERE event_id = '$id'}, '1', 10),
	'1', 'settled by hand: the attempt is logged');
is(state_of($id), 'false/true/0', 'settled by hand: the event keeps the state it was given');
$recv->wait_for_count(2, path => '/cancelled', timeout => 2);
is($recv->count(path => '/cancelled'), 1, 'settled by hand: not sent again');

# An attempt with no change to its event settles it as before.
$recv->set_rule('/cancelled', delay_ms => 0);
my $plain = sq(q{SELECT eventhooks.invoke_event_trigger('cancelled', '{"plain": true}')});
is(poll_sql($node, qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$plain'},
		'true/false/1', 10),
	'true/false/1', 'an unchanged event is settled by its attempt');

is( poll_queue_counts($node, '0/0'),
	'0/0', 'worker_status: nothing pending in the end');

$node->stop;
done_testing();
