# Cron triggers (SPEC §2, §7, issue 18), over three minute boundaries B1 < B2 < B3 shared by four
# `* * * * *` triggers (every, paused, replaced, deleted):
#  - right after create_cron_trigger, cron_events holds the upcoming minutes;
#  - at B1 all four fire within 1.5 s of the boundary, never before it; the body is
#    {scheduled_time, payload, name, id, comment} with id = the cron_events row;
#  - after B1: pause 'paused', delete 'deleted' (its scheduled rows go), replace 'replaced'
#    with a yearly schedule (its future minute rows go, the new time is planned);
#  - kill -9 of the delivery worker 4 s before B2, with nothing in flight: after the crash
#    restart 'every' sends B2 once and B1 is not sent again; 'paused', 'replaced', 'deleted'
#    send nothing at B2;
#  - resume 'paused' after B2: its B2 event is 'dead' (not sent late), and it fires at B3;
#  - over B1..B3, 'every' sent exactly one request per scheduled time, one invocation-log row
#    each, and keeps events planned ahead.
# Wall time: up to ~65 s to B1, then two minutes.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Encode ();
use POSIX qw(ceil);
use Time::HiRes qw(time usleep);

my $json = JSON::PP->new->utf8->canonical;
my $recv = start_receiver(quiet => 1);
# Fallback poll far from the 1.5 s window: boundaries are met by sleeping until the due time.
my $node = new_eventhooks_node('cron',
	conf => [ "eventhooks.poll_interval = '5s'", 'restart_after_crash = on' ]);
sub sq { return $node->safe_psql('postgres', $_[0]); }

sq('CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_delivery_worker($node, 10), 'delivery worker running');

sub body_of { return $json->decode(Encode::encode('UTF-8', $_[0]->{body})); }

# Sleeps until the unix time $t (bounded: never more than 70 s).
sub sleep_until
{
	my ($t) = @_;
	my $d = $t - time();
	$d = 70 if $d > 70;
	usleep(int($d * 1e6)) if $d > 0;
}

# After a crash: wait until the server accepts connections again.
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

# Requests on $path for scheduled time $b (unix seconds).
sub requests_for
{
	my ($path, $b) = @_;
	return grep {
		my $s = body_of($_)->{scheduled_time} // '';
		sq("SELECT extract(epoch FROM '$s'::timestamptz)::bigint") == $b
	} @{ $recv->requests(path => $path) };
}

sub status_at
{
	my ($trigger, $b) = @_;
	return sq("SELECT coalesce(string_agg(status, ','), 'none') FROM eventhooks.cron_events "
		  . "WHERE trigger_name = '$trigger' AND scheduled_time = to_timestamp($b)");
}

# Waits until $secs past boundary $b and checks that $path got nothing for it.
sub nothing_at
{
	my ($path, $b, $name) = @_;
	sleep_until($b + 2.5);
	is(scalar(requests_for($path, $b)), 0, $name);
}

# --- B1: the next minute boundary at least 6 s away (so that setup is done before it) -------
my $b1 = ceil(time() / 60) * 60;
if ($b1 - time() < 6)
{
	sleep_until($b1 + 0.5);
	$b1 += 60;
}
my ($b2, $b3) = ($b1 + 60, $b1 + 120);
note("B1 = $b1 (in " . sprintf('%.1f', $b1 - time()) . ' s)');

my %path = (every => '/every', paused => '/paused', replaced => '/replaced', deleted => '/deleted');
for my $t (sort keys %path)
{
	my $extra = $t eq 'every'
	  ? q{, payload => '{"job": "digest", "n": 1}', comment => 'every minute',
	     headers => '[{"name": "X-Literal", "value": "v1"}]'}
	  : '';
	sq("SELECT eventhooks.create_cron_trigger(name => '$t', webhook => '"
		  . $recv->url($path{$t}) . "', schedule => '* * * * *'$extra)");
}

# Upcoming rows, right after create.
my ($n_up, $first, $all_minutes, $consecutive) = split /\|/, sq(q{
	SELECT count(*), extract(epoch FROM min(scheduled_time))::bigint,
	       bool_and(extract(second FROM scheduled_time) = 0),
	       max(scheduled_time) - min(scheduled_time) = (count(*) - 1) * interval '1 minute'
	FROM eventhooks.cron_events WHERE trigger_name = 'every' AND status = 'scheduled'});
cmp_ok($n_up, '>=', 2, "create: upcoming events materialized in cron_events ($n_up)");
is($first, $b1, 'create: the first upcoming event is the next minute');
is($all_minutes, 't', 'create: every upcoming time on a minute boundary');
is($consecutive, 't', 'create: one event per minute, none missing or doubled');
is(sq(q{SELECT count(DISTINCT trigger_name) FROM eventhooks.cron_events
        WHERE scheduled_time = to_timestamp(} . $b1 . q{) AND status = 'scheduled'}),
	'4', 'create: each of the four triggers has its B1 event');

# --- B1 --------------------------------------------------------------------------------------
sleep_until($b1);
for my $t (sort keys %path)
{
	ok($recv->wait_for_count(1, path => $path{$t}, timeout => 5), "B1: '$t' fired");
}
for my $t (sort keys %path)
{
	my @r = requests_for($path{$t}, $b1);
	is(scalar @r, 1, "B1: '$t' sent one request for B1");
	my $lag = @r ? $r[0]{received_at} - $b1 : -1;
	ok($lag >= 0 && $lag <= 1.5, sprintf("B1: '$t' arrived %.3f s after the boundary (0..1.5)", $lag));
}
my ($r1) = requests_for('/every', $b1);
my $body = $r1 ? body_of($r1) : {};
is_deeply([ sort keys %$body ], [qw(comment id name payload scheduled_time)], 'body keys');
is($body->{name}, 'every', 'body name');
is_deeply($body->{payload}, { job => 'digest', n => 1 }, 'body payload');
is($body->{comment}, 'every minute', 'body comment');
like($body->{scheduled_time} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:00(\.0+)?(Z|\+00:?00)$/,
	'body scheduled_time: ISO-8601 UTC, on the minute');
is(sq("SELECT trigger_name || ' ' || extract(epoch FROM scheduled_time)::bigint "
		  . "FROM eventhooks.cron_events WHERE id = '" . ($body->{id} // '') . "'"),
	"every $b1", 'body id is the cron_events row of that trigger and time');
is($r1 ? $r1->{headers}{'webhook-id'} : '', $body->{id}, 'webhook-id header is the event id');
like($r1 ? $r1->{headers}{'user-agent'} // '' : '', qr{^pg_eventhooks/\S+}, 'User-Agent pg_eventhooks/<version>');
is($r1 ? $r1->{headers}{'x-literal'} : '', 'v1', 'configured header sent');
is_deeply(body_of((requests_for('/paused', $b1))[0] // { body => '{}' }),
	{ scheduled_time => $body->{scheduled_time}, payload => undef, name => 'paused',
	  id => sq("SELECT id FROM eventhooks.cron_events WHERE trigger_name = 'paused' "
		  . "AND scheduled_time = to_timestamp($b1)"), comment => undef },
	'body of a trigger without payload or comment: nulls');
is(poll_sql($node, "SELECT string_agg(trigger_name || ':' || status || '/' || tries, ',' ORDER BY trigger_name)
                    FROM eventhooks.cron_events WHERE scheduled_time = to_timestamp($b1)",
		'deleted:delivered/1,every:delivered/1,paused:delivered/1,replaced:delivered/1', 5),
	'deleted:delivered/1,every:delivered/1,paused:delivered/1,replaced:delivered/1',
	'B1: all four events delivered, one try');

# --- between B1 and B2: pause, delete, replace -----------------------------------------------
sq("SELECT eventhooks.pause_cron_trigger('paused')");
sq("SELECT eventhooks.delete_cron_trigger('deleted')");
is(sq(q{SELECT count(*) FROM eventhooks.cron_events WHERE trigger_name = 'deleted' AND status = 'scheduled'}),
	'0', 'delete: its scheduled events are gone');
is(sq(q{SELECT count(*) FROM eventhooks.cron_triggers WHERE name = 'deleted'}), '0',
	'delete: the trigger is gone');
sq("SELECT eventhooks.create_cron_trigger(name => 'replaced', webhook => '"
	  . $recv->url('/replaced') . "', schedule => '30 4 1 1 *', replace => true)");
my ($n_new, $old_future) = split /\|/, sq(q{
	SELECT count(*) FILTER (WHERE scheduled_time > now()),
	       count(*) FILTER (WHERE scheduled_time > now() AND NOT (
	           extract(month FROM scheduled_time AT TIME ZONE 'UTC') = 1
	           AND extract(day FROM scheduled_time AT TIME ZONE 'UTC') = 1
	           AND extract(hour FROM scheduled_time AT TIME ZONE 'UTC') = 4
	           AND extract(minute FROM scheduled_time AT TIME ZONE 'UTC') = 30
	           AND extract(second FROM scheduled_time) = 0))
	FROM eventhooks.cron_events WHERE trigger_name = 'replaced' AND status = 'scheduled'});
is($old_future, '0', 'replace: the old schedule\'s future events are gone');
cmp_ok($n_new, '>=', 1, 'replace: the new schedule\'s next time (Jan 1, 04:30 UTC) is planned');
is(status_at('replaced', $b1), 'delivered', 'replace: the event already sent stays in the history');

# --- kill -9 of the worker 4 s before B2, nothing in flight ----------------------------------
sleep_until($b2 - 4);
my $worker = delivery_worker_pid($node);
ok(defined $worker, 'found the delivery worker');
is(sq('SELECT requests_in_flight FROM eventhooks.worker_status WHERE database_name = current_database()'),
	'0', 'nothing in flight at the kill');
my $log_offset = -s $node->logfile;
kill 'KILL', $worker if defined $worker;
my $killed_at = time();
ok(wait_for_server_back(30), 'server back after the crash restart');
ok(defined wait_for_log($node, qr/terminated by signal 9/, 10, $log_offset),
	'the postmaster saw the worker die of SIGKILL');
my $new_worker = wait_for_delivery_worker($node, 20, $worker);
ok(defined $new_worker, 'a new delivery worker runs');
my $back_at = time();
note(sprintf('worker killed %.1f s before B2, new worker %.1f s before B2', $b2 - $killed_at, $b2 - $back_at));

# --- B2 --------------------------------------------------------------------------------------
sleep_until($b2);
ok($recv->wait_for_count(2, path => '/every', timeout => 20), "B2: 'every' fired after the crash");
my @r2 = requests_for('/every', $b2);
is(scalar @r2, 1, "B2: 'every' sent one request for B2");
if ($back_at < $b2 - 0.5)
{
	my $lag = @r2 ? $r2[0]{received_at} - $b2 : -1;
	ok($lag >= 0 && $lag <= 1.5, sprintf("B2: 'every' arrived %.3f s after the boundary (0..1.5)", $lag));
}
nothing_at('/paused', $b2, "B2: paused trigger sent nothing");
is(scalar(requests_for('/replaced', $b2)), 0, 'B2: replaced trigger sent nothing for the old schedule');
is($recv->count(path => '/replaced'), 1, 'replaced: only its B1 request, ever');
is($recv->count(path => '/deleted'), 1, 'deleted: only its B1 request, ever');
is(scalar(requests_for('/every', $b1)), 1, 'B1 not sent again after the crash');

# --- resume after B2 -------------------------------------------------------------------------
sq("SELECT eventhooks.resume_cron_trigger('paused')");
is(poll_sql($node, "SELECT coalesce(string_agg(status, ','), 'none') FROM eventhooks.cron_events
                    WHERE trigger_name = 'paused' AND scheduled_time = to_timestamp($b2)", 'dead', 5),
	'dead', "resume: the time passed while paused is 'dead'");
is(sq("SELECT count(*) FROM eventhooks.cron_event_invocation_logs l JOIN eventhooks.cron_events e
       ON e.id = l.event_id WHERE e.trigger_name = 'paused' AND e.scheduled_time = to_timestamp($b2)"),
	'0', 'resume: the dead event has no invocation log');
is(status_at('paused', $b3), 'scheduled', 'resume: B3 planned');

# --- B3 --------------------------------------------------------------------------------------
sleep_until($b3);
ok($recv->wait_for_count(2, path => '/paused', timeout => 5), 'B3: resumed trigger fires again');
for my $p ('/every', '/paused')
{
	ok($recv->wait_for_count($p eq '/every' ? 3 : 2, path => $p, timeout => 5), "B3: $p fired");
	my @r = requests_for($p, $b3);
	is(scalar @r, 1, "B3: $p sent one request for B3");
	my $lag = @r ? $r[0]{received_at} - $b3 : -1;
	ok($lag >= 0 && $lag <= 1.5, sprintf("B3: $p arrived %.3f s after the boundary (0..1.5)", $lag));
}
is(scalar(requests_for('/paused', $b2)), 0, 'resume: the B2 time was not sent late');

# --- exactly once per minute -------------------------------------------------------------------
sleep_until($b3 + 2.5);    # a duplicate would have arrived by now
my %per_time;
my %ids;
for my $r (@{ $recv->requests(path => '/every') })
{
	my $b = body_of($r);
	$per_time{ $b->{scheduled_time} }++;
	$ids{ $b->{id} }++;
}
is(scalar(keys %per_time), 3, "'every': three scheduled times sent (B1, B2, B3)");
is(scalar(grep { $_ != 1 } values %per_time), 0, "'every': exactly one request per scheduled time");
is(scalar(keys %ids), 3, "'every': three distinct event ids");
is(sq("SELECT string_agg(status || '/' || tries, ',' ORDER BY scheduled_time) FROM eventhooks.cron_events
       WHERE trigger_name = 'every' AND scheduled_time BETWEEN to_timestamp($b1) AND to_timestamp($b3)"),
	'delivered/1,delivered/1,delivered/1', "'every': B1..B3 delivered, one try each");
is(sq("SELECT count(*) || '/' || count(DISTINCT l.event_id) FROM eventhooks.cron_event_invocation_logs l
       JOIN eventhooks.cron_events e ON e.id = l.event_id WHERE e.trigger_name = 'every'"),
	'3/3', "'every': one invocation-log row per event");
is(sq("SELECT count(*) FROM eventhooks.cron_events WHERE trigger_name = 'every' AND status = 'scheduled'
       AND scheduled_time > now()") > 0 ? 'yes' : 'no', 'yes', "'every': still planned ahead");
is(sq("SELECT count(*) FROM eventhooks.cron_events WHERE trigger_name = 'every' AND status = 'scheduled'
       AND scheduled_time < now()"), '0', "'every': nothing left behind");

# --- delete at the end: nothing more ----------------------------------------------------------
sq("SELECT eventhooks.delete_cron_trigger('every')");
is(sq(q{SELECT count(*) FROM eventhooks.cron_events WHERE trigger_name = 'every' AND status = 'scheduled'}),
	'0', "delete 'every': no scheduled rows left");

$node->stop;
done_testing();
