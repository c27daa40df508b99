# eventhooks.trigger_stats and worker_status's 0.3.0 columns with the real worker and receiver
# (issue 20, SPEC §7; sql/trigger_stats.sql covers the view's rules with hand-made rows):
#   (a) N events delivered: delivered_1h = N (the worker's per minute figures), nothing
#       pending, failed or dead, commit-to-2xx percentiles > 0 and p50 <= p95 <= p99;
#   (b) a webhook answering 500: failed_1h counts the attempts, last_error says why, the event
#       waits for its retry (pending, not due) and is dead once its retries are used up;
#   (c) a slow webhook: in_flight > 0 and pending/due seen while its requests are out;
#       worker_status says 'delivering' with connections_open > 0, then 'idle';
#   (d) worker_status's started_at and last_wakeup_at;
#   (e) a database still at 0.2.0 (no figures table until ALTER EXTENSION UPDATE): its events
#       are delivered, the worker writes no figures and warns nothing, and worker_status's 9
#       columns of 0.2.0 read fine; after the update the figures are written, and the grants
#       of worker_status (pg_monitor, and one added by hand) are carried over.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/103_trigger_stats.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('trigger_stats');

sub sq { return $node->safe_psql('postgres', $_[0]); }

sq(qq{
CREATE EXTENSION pg_eventhooks;
CREATE TABLE ok_t (id int);
CREATE TABLE fail_t (id int);
CREATE TABLE slow_t (id int);
SELECT eventhooks.create_event_trigger('ok_hook', 'ok_t', '@{[ $recv->url('/ok') ]}',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('fail_hook', 'fail_t', '@{[ $recv->url('/fail') ]}',
    on_insert => '{}', retry_conf => '{"num_retries": 1, "interval_sec": 3}');
SELECT eventhooks.create_event_trigger('slow_hook', 'slow_t', '@{[ $recv->url('/slow') ]}',
    on_insert => '{}');
});
$recv->set_rule('/fail', status => 500);
$recv->set_rule('/slow', status => 200, delay_ms => 4000);
ok(defined wait_for_delivery_worker($node, 20), 'delivery worker runs');

sub stats
{
	my ($name, $columns) = @_;
	return sq("SELECT $columns FROM eventhooks.trigger_stats WHERE trigger_name = '$name'");
}

# (a)
my $n = 25;
sq("INSERT INTO ok_t SELECT generate_series(1, $n)");
is(poll_sql($node,
		q{SELECT delivered_1h || '/' || pending || '/' || failed_1h || '/' || dead
		  FROM eventhooks.trigger_stats WHERE trigger_name = 'ok_hook'}, "$n/0/0/0", 30),
	"$n/0/0/0", "(a) $n delivered in the hour, none pending, failed or dead");
is($recv->count(path => '/ok'), $n, "(a) the receiver got the $n events");
is(stats('ok_hook',
		'latency_p50_ms > 0 AND latency_p50_ms <= latency_p95_ms '
		  . 'AND latency_p95_ms <= latency_p99_ms AND latency_p99_ms < 60000'),
	't', '(a) latency percentiles > 0, p50 <= p95 <= p99 (and below a minute)');
is(stats('ok_hook', 'last_error IS NULL AND oldest_pending_age IS NULL'), 't',
	'(a) no error, nothing pending to be old');
is(sq(q{SELECT sum(delivered) FROM eventhooks.trigger_delivery_stats
        WHERE trigger_name = 'ok_hook'}), $n, '(a) the per minute rows hold the figures');

# (b) first attempt fails, the retry waits 3 s: pending, not due; then the retry fails: dead.
sq('INSERT INTO fail_t VALUES (1)');
is(poll_sql($node,
		q{SELECT pending || '/' || due || '/' || failed_1h || '/' || dead
		  FROM eventhooks.trigger_stats WHERE trigger_name = 'fail_hook'}, '1/0/1/0', 15),
	'1/0/1/0', '(b) after a failed attempt: pending, not due, 1 failed attempt, not dead');
is(stats('fail_hook', 'last_error || CASE WHEN last_error_at > now() - interval \'1 minute\' THEN \' (recent)\' END'),
	'HTTP status 500 (recent)', '(b) last_error says why, and when');
is(stats('fail_hook', 'oldest_pending_age > interval \'0\''), 't', '(b) oldest_pending_age');
is(poll_sql($node,
		q{SELECT pending || '/' || due || '/' || failed_1h || '/' || dead
		  FROM eventhooks.trigger_stats WHERE trigger_name = 'fail_hook'}, '0/0/2/1', 20),
	'0/0/2/1', '(b) retries used up: 2 failed attempts, dead');
is(stats('fail_hook', 'delivered_1h || \'/\' || (latency_p50_ms IS NULL)'), '0/true',
	'(b) nothing delivered: 0, latency NULL');

# (c) three requests held 4 s by the receiver.
sq('INSERT INTO slow_t SELECT generate_series(1, 3)');
is(poll_sql($node,
		q{SELECT in_flight || '/' || pending || '/' || due FROM eventhooks.trigger_stats
		  WHERE trigger_name = 'slow_hook'}, '3/3/3', 10),
	'3/3/3', '(c) 3 in flight, pending and due while the receiver holds them');
is(stats('ok_hook', 'in_flight'), '0', '(c) another trigger has none in flight');
is(poll_sql($node,
		q{SELECT state || '/' || (connections_open > 0) FROM eventhooks.worker_status
		  WHERE database_name = current_database()}, 'delivering/true', 10),
	'delivering/true', "(c) worker_status: 'delivering', connections open");
is(poll_sql($node,
		q{SELECT in_flight || '/' || pending || '/' || delivered_1h FROM eventhooks.trigger_stats
		  WHERE trigger_name = 'slow_hook'}, '0/0/3', 20),
	'0/0/3', '(c) delivered: none in flight or pending');
is(poll_sql($node,
		q{SELECT state FROM eventhooks.worker_status WHERE database_name = current_database()},
		'idle', 10),
	'idle', "(c) worker_status: 'idle' once done");
cmp_ok(stats('slow_hook', 'latency_p50_ms'), '>=', 4000, '(c) the slow deliveries took >= 4 s');

# (d)
is(sq(q{SELECT started_at <= last_wakeup_at AND last_wakeup_at <= now()
               AND last_wakeup_at > now() - interval '1 minute'
               AND eventhooks._resume_point() IS NOT NULL
        FROM eventhooks.worker_status WHERE database_name = current_database()}), 't',
	'(d) started_at <= last_wakeup_at (recent); the worker published its resume point');

# (e)
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', qq{
CREATE EXTENSION pg_eventhooks VERSION '0.2.0';
CREATE ROLE watcher;
GRANT SELECT ON eventhooks.worker_status TO watcher;
GRANT EXECUTE ON FUNCTION eventhooks.worker_status() TO watcher;
CREATE TABLE t (id int);
SELECT eventhooks.create_event_trigger('old_hook', 't', '@{[ $recv->url('/old') ]}',
    on_insert => '{}');
INSERT INTO t SELECT generate_series(1, 3);
});
is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log WHERE delivered}, '3', 30, 'old'),
	'3', '(e) 0.2.0: events delivered');
sleep(2);    # two flush periods: a write of the figures would have been tried (and warned)
is($node->safe_psql('old',
		q{SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = 'eventhooks.worker_status'::regclass
		          AND attnum > 0) || '/' || pid FROM eventhooks.worker_status
		  WHERE database_name = current_database()}) =~ /^9\/\d+$/ ? 1 : 0,
	1, '(e) 0.2.0: worker_status reads its 9 columns');
is(wait_for_log($node, qr/delivery figures|ERROR|FATAL/, 0, $log_offset), undef,
	'(e) 0.2.0: no warning or error in the log');
# A view of the user's own on worker_status: the update must not need to drop it.
$node->safe_psql('old', 'CREATE VIEW public.my_worker AS SELECT pid FROM eventhooks.worker_status');
$node->safe_psql('old', 'ALTER EXTENSION pg_eventhooks UPDATE');
is($node->safe_psql('old', 'SELECT count(*) > 0 FROM public.my_worker'), 't',
	"(e) updated: the user's view on worker_status is still there");
$node->safe_psql('old', 'INSERT INTO t VALUES (4)');
is(poll_sql($node, q{SELECT delivered_1h FROM eventhooks.trigger_stats}, '1', 20, 'old'),
	'1', '(e) updated: the figures are written');
is($node->safe_psql('old', q{SELECT state || '/' || (started_at IS NOT NULL)
		FROM eventhooks.worker_status WHERE database_name = current_database()}), 'idle/true',
	'(e) updated: the new columns of worker_status');
is($node->safe_psql('old', q{SELECT has_table_privilege('watcher', 'eventhooks.worker_status', 'SELECT')
		AND has_function_privilege('watcher', 'eventhooks.worker_status()', 'EXECUTE')
		AND has_table_privilege('pg_monitor', 'eventhooks.worker_status', 'SELECT')
		AND has_function_privilege('pg_monitor', 'eventhooks.worker_status()', 'EXECUTE')
		AND NOT has_function_privilege('public', 'eventhooks.worker_status()', 'EXECUTE')
		AND NOT has_table_privilege('public', 'eventhooks.worker_status', 'SELECT')
		AND has_function_privilege('watcher', 'eventhooks._worker_status()', 'EXECUTE')
		AND has_function_privilege('pg_monitor', 'eventhooks._worker_status()', 'EXECUTE')
		AND NOT has_function_privilege('public', 'eventhooks._worker_status()', 'EXECUTE')}), 't',
	'(e) updated: worker_status grants carried over');
# A user's view on worker_status does not stop the update (the view is replaced in place).
is($node->safe_psql('old', q{SET ROLE watcher; SELECT count(*) >= 1 FROM eventhooks.worker_status
		WHERE database_name = current_database()}), 't',
	'(e) updated: the role given worker_status by hand reads it');

$node->stop;
done_testing();
