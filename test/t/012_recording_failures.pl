# Rounds that cannot be recorded (issue 16, item 3). The delivery worker records what it sent
# in a transaction of its own; when that fails, the events must not be sent again and again:
#   (a) database settings that would make its writes fail (a read-only default, serializable
#       isolation) do not apply to the worker: an event is sent once and recorded;
#   (b) one event whose result cannot be stored (a trigger on the invocation log refuses it) is
#       isolated: the others of its round are recorded as they were, it is sent once and
#       recorded as failed with the reason;
#   (b2) one event whose result cannot be stored even as failed (a trigger on event_log refuses
#       to settle it): it is kept, not sent again, and recorded once that is possible, while
#       the worker goes on delivering other events;
#   (c) nothing can be recorded for a while (the trigger refuses every row): the event is not
#       sent again, no new event is sent, a WARNING says why, retries are spaced out; once the
#       cause is gone, the result is recorded and delivery goes on.
# The same worker serves all cases: none of them makes it exit.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('recording', conf => ["eventhooks.poll_interval = '1s'"]);

# The test's own sessions write in spite of the database's read-only default.
sub sq
{
	return $node->safe_psql('postgres', "SET default_transaction_read_only = off;\n" . $_[0]);
}

sub log_since
{
	my ($offset) = @_;
	return slurp_file($node->logfile, $offset);
}

# Waits (up to $secs) until the server log after $offset matches $re.
sub wait_log
{
	my ($re, $offset, $secs) = @_;
	my $deadline = time() + $secs;
	while (time() < $deadline)
	{
		return 1 if log_since($offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}

# Waits $secs and checks that $path got exactly $n requests by then.
sub stays_at
{
	my ($n, $path, $secs, $name) = @_;
	$recv->wait_for_count($n + 1, path => $path, timeout => $secs);
	is($recv->count(path => $path), $n, $name);
}

sub ids_of
{
	my ($trigger) = @_;
	return split /\n/,
	  sq("SELECT id FROM eventhooks.event_log WHERE trigger_name = '$trigger' ORDER BY id");
}

sq('CREATE EXTENSION pg_eventhooks');
my $pid = wait_for_delivery_worker($node, 10);
ok(defined $pid, 'delivery worker running');
sq('CREATE TABLE t (id int, poison text)');
for my $name (qw(ro poison stuck closed later))
{
	sq("CREATE TABLE t_$name (LIKE t)");
	sq(qq{SELECT eventhooks.create_event_trigger(name => '$name', table_name => 't_$name',
	        webhook => '@{[ $recv->url("/$name") ]}', on_insert => '{"columns": "*"}',
	        retry_conf => '{"num_retries": 3, "interval_sec": 1}')});
}

# =============================================================================================
# (a) ALTER DATABASE ... SET default_transaction_read_only = on (and serializable)
# =============================================================================================
sq(q{ALTER DATABASE postgres SET default_transaction_read_only = on});
sq(q{ALTER DATABASE postgres SET default_transaction_isolation = serializable});
# The worker reads the database's settings when it connects: start a new one.
sq("SELECT pg_terminate_backend($pid)");
my $new_pid = wait_for_delivery_worker($node, 10, $pid);
ok(defined $new_pid, '(a) a new worker connected under the read-only default');
$pid = $new_pid;
is($node->safe_psql('postgres', 'SHOW default_transaction_read_only'),
	'on', '(a) sessions of the database start read-only');

sq(q{INSERT INTO t_ro VALUES (1, 'no')});
my ($ro_id) = ids_of('ro');
ok($recv->wait_for_count(1, path => '/ro', timeout => 10), '(a) the event is sent');
stays_at(1, '/ro', 4, '(a) ... once (it was sent again and again when the worker could not record it)');
is( poll_sql($node,
		qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$ro_id'},
		'true/false/1', 5),
	'true/false/1', '(a) ... and recorded delivered');
is(sq(qq{SELECT string_agg(status::text, ',') FROM eventhooks.event_invocation_logs WHERE event_id = '$ro_id'}),
	'200', '(a) one invocation log row, status 200');
sq(q{ALTER DATABASE postgres RESET ALL});

# =============================================================================================
# (b) one event of a round cannot be recorded: a trigger on the log refuses it
# =============================================================================================
sq(q{
CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.request->'payload'->'event'->'data'->'new'->>'poison' = 'yes' THEN
    RAISE EXCEPTION 'no poison in this log';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_poison BEFORE INSERT ON eventhooks.event_invocation_logs
  FOR EACH ROW EXECUTE FUNCTION refuse_poison();
});
# Held 500 ms by the receiver: the six answers come back together, into one round.
$recv->set_rule('/poison', delay_ms => 500);
my $log_offset = -s $node->logfile;
sq(q{INSERT INTO t_poison VALUES (1, 'no'), (2, 'no'), (3, 'yes'), (4, 'no'), (5, 'no'), (6, 'no')});
my @poison_ids = ids_of('poison');
my ($poison_id) =
  split /\n/, sq(q{SELECT id FROM eventhooks.event_log WHERE payload->'data'->'new'->>'id' = '3'});
ok($recv->wait_for_count(6, path => '/poison', timeout => 10), '(b) six events sent');
is( poll_sql($node,
		q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*) FILTER (WHERE error)
		  FROM eventhooks.event_log WHERE trigger_name = 'poison'}, '5/1', 10),
	'5/1', '(b) five recorded delivered, the refused one failed');
stays_at(6, '/poison', 3, '(b) each event was sent once (none again)');
is_deeply([ sort(event_ids_received($recv, path => '/poison')) ],
	[ sort @poison_ids ], '(b) ... exactly the six events');
is( sq(qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$poison_id'}),
	'false/true/1', '(b) the refused event: error, one try');
is( sq(qq{SELECT status || ' ' || (response->>'error') FROM eventhooks.event_invocation_logs
	      WHERE event_id = '$poison_id'}),
	'200 could not record this attempt: no poison in this log',
	'(b) its invocation log row says why (and that the webhook answered 200)');
is( sq(q{SELECT count(*) FROM eventhooks.event_invocation_logs l
	     JOIN eventhooks.event_log e ON e.id = l.event_id
	     WHERE e.trigger_name = 'poison' AND l.status = 200 AND l.request ? 'payload'}),
	'5', '(b) the other five have their usual log rows');
like(log_since($log_offset), qr/WARNING:  pg_eventhooks: could not record the attempt of event \Q$poison_id\E of event trigger "poison": no poison in this log/,
	'(b) a WARNING names the event and the reason');
sq(q{DROP TRIGGER refuse_poison ON eventhooks.event_invocation_logs});

# =============================================================================================
# (b2) one event cannot be settled at all: a trigger on event_log refuses it
# =============================================================================================
sq(q{
CREATE FUNCTION refuse_settling() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.payload->'data'->'new'->>'poison' = 'stuck' AND (NEW.delivered OR NEW.error) THEN
    RAISE EXCEPTION 'this one stays';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_settling BEFORE UPDATE ON eventhooks.event_log
  FOR EACH ROW EXECUTE FUNCTION refuse_settling();
});
$recv->set_rule('/stuck', delay_ms => 500);
$log_offset = -s $node->logfile;
sq(q{INSERT INTO t_stuck VALUES (1, 'no'), (2, 'stuck'), (3, 'no'), (4, 'no')});
my ($stuck_id) =
  split /\n/, sq(q{SELECT id FROM eventhooks.event_log WHERE payload->'data'->'new'->>'poison' = 'stuck'});
is( poll_sql($node,
		q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'stuck'},
		'3', 10),
	'3', '(b2) the three others are recorded delivered');
ok( wait_log(qr/could not record the results of 1 attempts \(event \Q$stuck_id\E, \.\.\.\): this one stays/,
		$log_offset, 10),
	'(b2) a WARNING names the event kept');
# The worker goes on: a new event is sent and recorded while the kept one waits.
sq(q{INSERT INTO t_stuck VALUES (5, 'no')});
is( poll_sql($node,
		q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'stuck'},
		'4', 10),
	'4', '(b2) a new event is delivered meanwhile');
stays_at(5, '/stuck', 3, '(b2) the kept event is not sent again');
is(sq(qq{SELECT delivered || '/' || error FROM eventhooks.event_log WHERE id = '$stuck_id'}),
	'false/false', '(b2) ... and is still pending');
sq(q{DROP TRIGGER refuse_settling ON eventhooks.event_log});
is( poll_sql($node,
		qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$stuck_id'},
		'true/false/1', 20),
	'true/false/1', '(b2) once it can be, the kept result is recorded: delivered');
is($recv->count(path => '/stuck'), 5, '(b2) five events, each sent once');

# =============================================================================================
# (c) nothing can be recorded for a while: every log row is refused
# =============================================================================================
sq(q{
CREATE FUNCTION refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the log is closed';
END $$;
CREATE TRIGGER refuse_all BEFORE INSERT ON eventhooks.event_invocation_logs
  FOR EACH ROW EXECUTE FUNCTION refuse_all();
});
$log_offset = -s $node->logfile;
sq(q{INSERT INTO t_closed VALUES (1, 'no')});
my ($closed_id) = ids_of('closed');
ok($recv->wait_for_count(1, path => '/closed', timeout => 10), '(c) the event is sent');
ok( wait_log(qr/WARNING:  pg_eventhooks: could not record the results of 1 attempts \(event \Q$closed_id\E, \.\.\.\): the log is closed/,
		$log_offset, 10),
	'(c) a WARNING says that its result cannot be recorded, and why');
# An event committed now may be sent once (one result that cannot be written does not stop the
# worker: it may be that result alone, as in (b2)); its result is kept too, never resent.
sq(q{INSERT INTO t_later VALUES (1, 'no')});
my ($later_id) = ids_of('later');
my $t0 = time();
stays_at(1, '/closed', 5, '(c) the event is not sent again while its result cannot be recorded');
cmp_ok($recv->count(path => '/later'), '<=', 1,
	'(c) a new event is sent at most once meanwhile (its result is kept too, up to a bound)');
my @warnings = log_since($log_offset) =~ /could not record the results of/g;
cmp_ok(scalar(@warnings), '<=', 5,
	sprintf('(c) recording is retried with a growing wait, not in a loop (%d WARNINGs in %.1f s)',
		scalar(@warnings), time() - $t0));
is(sq(qq{SELECT delivered || '/' || error FROM eventhooks.event_log WHERE id = '$closed_id'}),
	'false/false', '(c) the event is still pending meanwhile');

sq(q{DROP TRIGGER refuse_all ON eventhooks.event_invocation_logs});
is( poll_sql($node,
		qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$closed_id'},
		'true/false/1', 20),
	'true/false/1', '(c) once the log takes rows again, the kept result is recorded: delivered');
is(sq(qq{SELECT string_agg(status::text, ',') FROM eventhooks.event_invocation_logs WHERE event_id = '$closed_id'}),
	'200', '(c) ... with its invocation log row');
is( poll_sql($node,
		qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$later_id'}, 't', 10),
	't', '(c) the new event is then sent and delivered');
stays_at(1, '/later', 1, '(c) ... once');
is($recv->count(path => '/closed'), 1, '(c) the first event was sent once in all');

is(delivery_worker_pid($node) // 'none', $pid, 'the same worker served (a) to (c)');
is( poll_queue_counts($node, '0/0'),
	'0/0', 'worker_status: nothing pending in the end');

$node->stop;
done_testing();
