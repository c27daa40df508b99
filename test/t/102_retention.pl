# eventhooks.retention (SPEC §7): the delivery worker deletes delivered events and their
# invocation logs older than the setting, in small batches, while deliveries go on; pending
# events stay. A database still on 0.2.0's schema is skipped quietly. And
# eventhooks.log_successful_request_bodies = off: a delivered attempt's logged request has
# "payload": null, a failed attempt keeps its payload.
#
# The pass runs every eventhooks.retention_check_interval (a developer setting, default an
# hour; the first pass comes a minute after the worker starts, or after the interval if shorter).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);
$recv->set_rule('/bad', status => 500);
my $node = new_eventhooks_node('retention',
	conf => [ "eventhooks.retention = '2 seconds'", "eventhooks.retention_check_interval = '300ms'" ]);

sub sq { return $node->safe_psql($_[1] // 'postgres', $_[0]); }

# ---------------------------------------------------------------------------
# A database on 0.2.0's schema (no batch function yet): the pass skips it, no error.
# ---------------------------------------------------------------------------
sq('CREATE DATABASE old');
sq(q{CREATE EXTENSION pg_eventhooks VERSION '0.2.0'}, 'old');
sq(q{CREATE TABLE t (id int)}, 'old');
sq(qq{SELECT eventhooks.create_event_trigger(name => 'ok', table_name => 't',
        webhook => '@{[ $recv->url('/old') ]}', on_insert => '{"columns": "*"}')}, 'old');
sq(q{INSERT INTO t VALUES (1)}, 'old');
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log}, '1', 20, 'old'),
	'1', '0.2.0: the event is delivered');
# Passes every 0.3 s: after 3 s, several have run (or would have failed).
usleep(3_000_000);
is(sq(q{SELECT count(*) FROM eventhooks.event_log}, 'old'), '1', '0.2.0: nothing deleted before the update');
is(sq(q{SELECT coalesce(last_error, '') FROM eventhooks.worker_status WHERE database_name = 'old'}, 'old'),
	'', '0.2.0: no error from the retention pass');
ok(!defined wait_for_log($node, qr/pg_eventhooks: .*retention/, 0), '0.2.0: nothing about retention in the server log');
sq(q{ALTER EXTENSION pg_eventhooks UPDATE TO '0.3.0'}, 'old');
is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log}, '0', 20, 'old'),
	'0', 'after the update, the old delivered event is deleted');

# ---------------------------------------------------------------------------
# Delivered events and their logs go; pending ones (receiver answering 500, retried for long)
# stay with their logs; deliveries go on meanwhile.
# ---------------------------------------------------------------------------
sq('CREATE EXTENSION pg_eventhooks');
sq(q{CREATE TABLE t (id int)});
sq(qq{SELECT eventhooks.create_event_trigger(name => 'ok', table_name => 't',
        webhook => '@{[ $recv->url('/ok') ]}', on_insert => '{"columns": "*"}', enable_manual => true)});
sq(qq{SELECT eventhooks.create_event_trigger(name => 'bad', table_name => 't',
        webhook => '@{[ $recv->url('/bad') ]}', enable_manual => true,
        retry_conf => '{"num_retries": 1000, "interval_sec": 1}')});
my $offset = -s $node->logfile;
sq(q{INSERT INTO t SELECT generate_series(1, 3000)});
sq(q{SELECT eventhooks.invoke_event_trigger('bad', jsonb_build_object('id', i)) FROM generate_series(1, 5) i});
ok($recv->wait_for_count(3000, path => '/ok', timeout => 60), 'ok: 3000 events sent');
is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'ok'}, '0', 30),
	'0', 'delivered events deleted after 2 s (3000: several batches of 1000)');
is(sq(q{SELECT count(*) FROM eventhooks.event_invocation_logs WHERE trigger_name = 'ok'}),
	'0', 'their invocation logs too');
is(sq(q{SELECT count(*) FILTER (WHERE NOT delivered AND NOT error), count(*) FROM eventhooks.event_log
        WHERE trigger_name = 'bad'}), '5|5', 'pending events (failing, retried) all kept');
cmp_ok(sq(q{SELECT count(DISTINCT event_id) FROM eventhooks.event_invocation_logs WHERE trigger_name = 'bad'}),
	'>=', 1, 'pending events keep their invocation logs');
like(wait_for_log($node, qr/retention removed \d+ events/, 10, $offset) // '',
	qr/retention removed \d+ events older than 2 seconds/, 'the pass says what it removed');

# Deliveries go on during passes: one event every 50 ms for 3 s, each delivered within 2 s
# (passes run every 0.3 s meanwhile).
my @slow;
for my $i (1 .. 60)
{
	my $t0 = time();
	my $id = sq(qq{SELECT eventhooks.invoke_event_trigger('ok', '{"i": $i}')});
	my $st = poll_sql($node,
		qq{SELECT CASE WHEN delivered THEN 'sent' WHEN id IS NULL THEN 'gone' END
		   FROM (SELECT) x LEFT JOIN eventhooks.event_log ON id = '$id'}, qr/^(sent|gone)$/, 2);
	push @slow, $i unless $st =~ /^(sent|gone)$/;
	usleep(50_000);
}
is(scalar(@slow), 0, 'events sent while the passes run are delivered within 2 s' . (@slow ? " (late: @slow)" : ''));
is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'ok'}, '0', 20),
	'0', 'and deleted in turn');
is(sq(q{SELECT coalesce(last_error, '') !~ 'retention' FROM eventhooks.worker_status
        WHERE database_name = current_database()}), 't', 'no retention failure in worker_status');

# A pass that fails (here a trigger of the owner's that refuses deletes from event_log) says
# so in the server log and in worker_status.last_error; deliveries go on; once the cause is
# gone, the next pass deletes what it could not.
# The failing webhook answers 200 from now on, so that its failures no longer write last_error.
$recv->set_rule('/bad', status => 200);
is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'bad' AND NOT delivered},
	'0', 20), '0', 'bad: delivered once the receiver answers 200');
sq(q{CREATE FUNCTION no_delete() RETURNS trigger LANGUAGE plpgsql AS
     $$BEGIN RAISE EXCEPTION 'deletes refused for the test'; END$$});
sq(q{CREATE TRIGGER no_delete BEFORE DELETE ON eventhooks.event_log FOR EACH ROW EXECUTE FUNCTION no_delete()});
$offset = -s $node->logfile;
my $kept = sq(q{SELECT eventhooks.invoke_event_trigger('ok', '{"kept": true}')});
is(poll_sql($node, qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$kept'}, 't', 10), 't',
	'delivered while passes fail');
like(wait_for_log($node, qr/WARNING:  pg_eventhooks: retention pass failed/, 20, $offset) // '',
	qr/deletes refused for the test/, 'a failed pass: WARNING in the server log with the cause');
like(sq(q{SELECT last_error FROM eventhooks.worker_status WHERE database_name = current_database()}),
	qr/retention pass failed: deletes refused for the test/, 'and in worker_status.last_error');
is(sq(qq{SELECT count(*) FROM eventhooks.event_log WHERE id = '$kept'}), '1', 'the event is still there');
sq(q{DROP TRIGGER no_delete ON eventhooks.event_log});
is(poll_sql($node, qq{SELECT count(*) FROM eventhooks.event_log WHERE id = '$kept'}, '0', 20), '0',
	'deleted by a later pass once deletes are allowed');

# ---------------------------------------------------------------------------
# log_successful_request_bodies. Retention off, so that the logs stay.
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "eventhooks.retention = ''\n");
$node->reload;
# On (the default): a delivered attempt's log has the payload.
sub delivered_log
{
	my ($payload) = @_;
	my $id = sq(qq{SELECT eventhooks.invoke_event_trigger('ok', '$payload')});
	poll_sql($node, qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$id'}, 't', 10);
	return sq(qq{SELECT request FROM eventhooks.event_invocation_logs WHERE event_id = '$id'});
}
my $json = JSON::PP->new;
my $log = delivered_log('{"on": true}');
is_deeply($json->decode($log)->{payload}{event}{data}{new}, { on => JSON::PP::true },
	'on: the delivered attempt logs its payload');

$recv->set_rule('/bad', status => 500);
sq(q{SELECT eventhooks.invoke_event_trigger('bad', '{"id": 0}')});
$node->append_conf('postgresql.conf', "eventhooks.log_successful_request_bodies = off\n");
$node->reload;
# The worker takes the reload in at its next wake-up: the first event may still be logged
# the old way.
my $request;
for my $i (1 .. 20)
{
	$request = $json->decode(delivered_log(qq({"off": $i})));
	last if exists $request->{payload} && !defined $request->{payload};
}
ok(exists $request->{payload} && !defined $request->{payload}, 'off: a delivered attempt logs "payload": null');
is($request->{url}, $recv->url('/ok'), 'off: url still logged');
ok(defined $request->{headers}, 'off: headers still logged');
my $since = sq(q{SELECT now()});
is(poll_sql($node, qq{SELECT count(*) > 0 FROM eventhooks.event_invocation_logs
        WHERE trigger_name = 'bad' AND created_at > '$since'}, 't', 10), 't', 'failed attempts logged since');
is(sq(qq{SELECT bool_and(request->'payload'->'event'->'data'->'new' ? 'id')
         FROM eventhooks.event_invocation_logs WHERE trigger_name = 'bad' AND created_at > '$since'}),
	't', 'off: failed attempts keep their payload');

$node->stop;
done_testing();
