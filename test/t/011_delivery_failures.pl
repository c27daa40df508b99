# Delivery (SPEC §4), part 2: failures. Outcomes recorded promptly (not at
# the fallback poll), retries and their spacing, fail-then-succeed, timeouts,
# Retry-After (including the extra attempt past num_retries), 3xx not
# followed, 4xx/5xx recorded with their body, redeliver_event, a deleted
# trigger's pending events, receiver down then up.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time usleep);
use Encode ();

my $json = JSON::PP->new->utf8->canonical;

my $recv = start_receiver(quiet => 1);
# The fallback poll is set well above the retry intervals used here: a retry
# is due after interval_sec (SPEC §4), and must not wait for the fallback poll
# (which only covers missed commit wake-ups).
my $node = new_eventhooks_node('failures', conf => ["eventhooks.poll_interval = '5s'"]);

sub sq { return $node->safe_psql('postgres', $_[0]); }


sub bodies
{
	my ($path) = @_;
	return map { $json->decode(Encode::encode('UTF-8', $_->{body})) }
	  @{ $recv->requests(path => $path) };
}

# Waits up to $secs and checks that no request beyond $n arrived on $path.
sub stays_at
{
	my ($n, $path, $secs, $name) = @_;
	my $more = $recv->wait_for_count($n + 1, path => $path, timeout => $secs);
	is($recv->count(path => $path), $n, $name);
}

# Differences between consecutive received_at of $path's requests.
sub gaps
{
	my ($path) = @_;
	my @t = map { $_->{received_at} } @{ $recv->requests(path => $path) };
	return map { $t[$_] - $t[ $_ - 1 ] } 1 .. $#t;
}

# Event ids of $trigger in id order.
sub event_ids
{
	my ($trigger) = @_;
	return split /\n/,
	  sq("SELECT id FROM eventhooks.event_log WHERE trigger_name = '$trigger' ORDER BY id");
}

sub state_of
{
	my ($trigger) = @_;
	return sq(qq{SELECT string_agg(delivered || '/' || error || '/' || tries || '/' || archived, ',' ORDER BY id)
	             FROM eventhooks.event_log WHERE trigger_name = '$trigger'});
}

sq('CREATE EXTENSION pg_eventhooks');
like(
	poll_sql($node, 
		q{SELECT coalesce(pid::text, '') FROM eventhooks.worker_status
		  WHERE database_name = current_database()}, qr/^\d+$/, 10),
	qr/^\d+$/, 'delivery worker running');
sq(q{CREATE TABLE t (id int)});

sub make_trigger
{
	my ($name, $url, $retry_conf) = @_;
	sq(qq{SELECT eventhooks.create_event_trigger(name => '$name', table_name => 't',
	        webhook => '$url', enable_manual => true, retry_conf => '$retry_conf')});
}

sub invoke
{
	my ($name, $payload) = @_;
	return sq(qq{SELECT eventhooks.invoke_event_trigger('$name', '@{[ $payload // '{}' ]}')});
}

# ---------------------------------------------------------------------------
# Outcomes recorded promptly. The fallback poll is 5 s, so an answer that is
# only noticed at the next poll shows up as seconds late.
# ---------------------------------------------------------------------------
make_trigger('prompt', $recv->url('/prompt'), '{}');
my @late_records;
for my $i (1 .. 10)
{
	my $t0 = time();
	my $id = invoke('prompt', qq({"i": $i}));
	my $st = poll_sql($node, qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$id'}, 't', 2);
	next if $st eq 't';
	my ($req) = grep { $_->{body} =~ /\Q$id\E/ } @{ $recv->requests(path => '/prompt') };
	push @late_records,
	  sprintf('event %d: received %s, not marked delivered after %.2f s', $i,
		$req ? sprintf('after %.2f s', $req->{received_at} - $t0) : 'never', time() - $t0);
}
is(scalar(@late_records), 0,
	'ten events answered 200 at once: each marked delivered within 2 s of its commit'
	  . (@late_records ? " (@late_records)" : ''));
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'prompt'}, '10', 15),
	'10', 'prompt: all ten delivered in the end');
is($recv->count(path => '/prompt'), 10, 'prompt: each sent once');
# worker_status catches up with a drained queue at once, not at the next (5 s) poll:
# a request held 1.5 s by the receiver is counted as pending while in flight, then
# the counts follow its delivery.
$recv->set_rule('/prompt', delay_ms => 1500);
my $held_id = invoke('prompt', '{"held": true}');
is(poll_sql($node, q{SELECT events_pending FROM eventhooks.worker_status
	WHERE database_name = current_database()}, '1', 3),
	'1', 'worker_status counts the event in flight as pending');
is(poll_sql($node, qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$held_id'}, 't', 5),
	't', 'the held event is delivered');
is(poll_queue_counts($node, '0/0', 0.5),
	'0/0', 'worker_status shows the drained queue as empty within half a second');
$recv->set_rule('/prompt', delay_ms => 0);

# ---------------------------------------------------------------------------
# Retries: num_retries 2, interval 1 s, receiver always 500
# ---------------------------------------------------------------------------
$recv->set_rule('/r500', status => 500, body => 'server broke');
make_trigger('r500', $recv->url('/r500'), '{"num_retries": 2, "interval_sec": 1}');
my $r500 = invoke('r500');
ok($recv->wait_for_count(3, path => '/r500', timeout => 15), 'r500: three attempts arrive');
is(poll_sql($node, qq{SELECT error || '/' || delivered || '/' || tries FROM eventhooks.event_log WHERE id = '$r500'},
		'true/false/3', 10),
	'true/false/3', 'r500: error = true, delivered = false, tries = 3');
is_deeply([ map { $_->{delivery_info} } bodies('/r500') ],
	[ map { { max_retries => 2, current_retry => $_ } } 0 .. 2 ],
	'r500: delivery_info.current_retry 0, 1, 2 with max_retries 2');
is_deeply([ map { $_->{id} } bodies('/r500') ], [ ($r500) x 3 ], 'r500: all attempts carry the event id');
my @g = gaps('/r500');
is(scalar @g, 2, 'r500: two gaps');
for my $i (0 .. $#g)
{
	cmp_ok($g[$i], '>=', 0.9, "r500: gap $i between attempts >= interval_sec (" . sprintf('%.2f', $g[$i]) . ' s)');
	cmp_ok($g[$i], '<', 3.0, "r500: gap $i between attempts < 3 s");
}
is(sq(qq{SELECT string_agg(status::text || ':' || (response->>'status') || ':' || (response->>'body'), ',' ORDER BY created_at)
         FROM eventhooks.event_invocation_logs WHERE event_id = '$r500'}),
	'500:500:server broke,500:500:server broke,500:500:server broke',
	'r500: three invocation log rows with status 500 and the response body');
stays_at(3, '/r500', 2.5, 'r500: no fourth attempt');

# A longer series: every retry about interval_sec after the previous attempt.
$recv->set_rule('/spacing', status => 500);
make_trigger('spacing', $recv->url('/spacing'), '{"num_retries": 6, "interval_sec": 1}');
my $sp = invoke('spacing');
ok($recv->wait_for_count(7, path => '/spacing', timeout => 30), 'spacing: seven attempts arrive');
is(poll_sql($node, qq{SELECT error || '/' || tries FROM eventhooks.event_log WHERE id = '$sp'}, 'true/7', 10),
	'true/7', 'spacing: error after 7 tries');
@g = gaps('/spacing');
my @late = grep { $_ < 0.9 || $_ >= 1.5 } @g;
is(scalar(@late), 0, 'spacing: all 6 retries 0.9..1.5 s after the previous attempt (gaps: '
	  . join(' ', map { sprintf '%.2f', $_ } @g) . ')');

# ---------------------------------------------------------------------------
# Fails twice, then succeeds: num_retries 3
# ---------------------------------------------------------------------------
$recv->set_rule('/ff', fail_first => 2, fail_status => 502, status => 200);
make_trigger('ff', $recv->url('/ff'), '{"num_retries": 3, "interval_sec": 1}');
my $ff = invoke('ff');
ok($recv->wait_for_count(3, path => '/ff', timeout => 15), 'ff: third attempt arrives');
is(poll_sql($node, qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$ff'},
		'true/false/3', 10),
	'true/false/3', 'ff: delivered on the 3rd attempt (tries = 3)');
is(sq(qq{SELECT string_agg(status::text, ',' ORDER BY created_at) FROM eventhooks.event_invocation_logs
         WHERE event_id = '$ff'}),
	'502,502,200', 'ff: invocation log 502, 502, 200');
is_deeply([ map { $_->{delivery_info}{current_retry} } bodies('/ff') ], [ 0, 1, 2 ],
	'ff: current_retry 0, 1, 2');
@g = gaps('/ff');
ok(@g == 2 && !grep({ $_ < 0.9 || $_ >= 3 } @g),
	'ff: retries about 1 s apart (' . join(' ', map { sprintf '%.2f', $_ } @g) . ')');

# ---------------------------------------------------------------------------
# Timeout
# ---------------------------------------------------------------------------
$recv->set_rule('/timeout', delay_ms => 3000);
make_trigger('timeout', $recv->url('/timeout'), '{"num_retries": 0, "timeout_sec": 1}');
my $t_start = time();
my $to = invoke('timeout');
is(poll_sql($node, qq{SELECT error || '/' || delivered || '/' || tries FROM eventhooks.event_log WHERE id = '$to'},
		'true/false/1', 10),
	'true/false/1', 'timeout: event failed after one attempt');
cmp_ok(time() - $t_start, '<', 2.9, 'timeout: failure recorded before the receiver answered');
my ($to_status, $to_err, $to_ms) = split /\|/, sq(qq{SELECT coalesce(status::text, 'NULL') || '|' ||
        coalesce(response->>'error', '') || '|' || coalesce(response->>'elapsed_ms', '')
        FROM eventhooks.event_invocation_logs WHERE event_id = '$to'});
is($to_status, 'NULL', 'timeout: status NULL');
like($to_err, qr/timed out/, "timeout: error says timed out ($to_err)");
ok($to_ms ne '' && $to_ms >= 900 && $to_ms < 2900, "timeout: elapsed_ms about 1000 ($to_ms)");

# ---------------------------------------------------------------------------
# Retry-After with num_retries 0
# ---------------------------------------------------------------------------
$recv->set_rule('/ra', fail_first => 1, fail_status => 503, retry_after => '1', status => 200);
make_trigger('ra', $recv->url('/ra'), '{"num_retries": 0, "interval_sec": 30}');
my $ra = invoke('ra');
ok($recv->wait_for_count(2, path => '/ra', timeout => 10), 'Retry-After: sent once more');
is(poll_sql($node, qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$ra'},
		'true/false/2', 10),
	'true/false/2', 'Retry-After: delivered on the extra attempt');
@g = gaps('/ra');
ok(@g == 1 && $g[0] >= 0.9 && $g[0] < 3, 'Retry-After: extra attempt about 1 s later (' . sprintf('%.2f', $g[0] // -1) . ' s)');
is(sq(qq{SELECT string_agg(status || ':' || coalesce(response->>'retry_after', '-'), ',' ORDER BY created_at)
         FROM eventhooks.event_invocation_logs WHERE event_id = '$ra'}),
	'503:1,200:-', 'Retry-After: logged with the 503 answer');

$recv->set_rule('/ra2', status => 503, retry_after => '1');
make_trigger('ra2', $recv->url('/ra2'), '{"num_retries": 0, "interval_sec": 30}');
my $ra2 = invoke('ra2');
ok($recv->wait_for_count(2, path => '/ra2', timeout => 10), 'Retry-After twice: second attempt');
is(poll_sql($node, qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$ra2'},
		'false/true/2', 10),
	'false/true/2', 'Retry-After twice: error after the extra attempt');
stays_at(2, '/ra2', 2.5, 'Retry-After twice: no third attempt');

# ---------------------------------------------------------------------------
# 3xx: a failure, Location not followed
# ---------------------------------------------------------------------------
my $redir = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16,
	ReuseAddr => 1, Proto => 'tcp') or die "listen: $!";
my $redir_port = $redir->sockport;
my $target = $recv->url('/redirect-target');
my $redir_pid = fork();
die "fork: $!" unless defined $redir_pid;
if ($redir_pid == 0)
{
	alarm 120;
	while (my $c = $redir->accept)
	{
		local $/ = "\r\n";
		my $len = 0;
		while (defined(my $l = <$c>))
		{
			last if $l eq "\r\n";
			$len = $1 if $l =~ /^content-length:\s*(\d+)/i;
		}
		my $body = '';
		read($c, $body, $len) if $len;
		print $c "HTTP/1.1 302 Found\r\nLocation: $target\r\nContent-Type: text/plain\r\n"
		  . "Content-Length: 5\r\nConnection: close\r\n\r\nmoved";
		close $c;
	}
	POSIX::_exit(0);
}
close $redir;
make_trigger('redir', "http://127.0.0.1:$redir_port/hook", '{"num_retries": 0}');
my $rd = invoke('redir');
is(poll_sql($node, qq{SELECT delivered || '/' || error FROM eventhooks.event_log WHERE id = '$rd'},
		'false/true', 10),
	'false/true', '302: a failure (error = true)');
is(sq(qq{SELECT status || ':' || (response->>'body') FROM eventhooks.event_invocation_logs WHERE event_id = '$rd'}),
	'302:moved', '302: status and body recorded');
is($recv->count(path => '/redirect-target'), 0, '302: Location not followed');
kill 'TERM', $redir_pid;
waitpid($redir_pid, 0);

# ---------------------------------------------------------------------------
# 4xx with a body; then redeliver_event
# ---------------------------------------------------------------------------
$recv->set_rule('/e404', status => 404, body => 'no such hook');
make_trigger('e404', $recv->url('/e404'), '{"num_retries": 0}');
my $e404 = invoke('e404', '{"n": 404}');
is(poll_sql($node, qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$e404'},
		'false/true/1', 10),
	'false/true/1', '404: error after one attempt');
is(sq(qq{SELECT status || ':' || (response->>'status') || ':' || (response->>'body') || ':' || (response->>'body_truncated')
         FROM eventhooks.event_invocation_logs WHERE event_id = '$e404'}),
	'404:404:no such hook:false', '404: status and response body recorded');

$recv->set_rule('/e404', status => 200);
sq(qq{SELECT eventhooks.redeliver_event('$e404')});
ok($recv->wait_for_count(2, path => '/e404', timeout => 10), 'redeliver_event: sent again');
is(poll_sql($node, qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$e404'},
		'true/false/1', 10),
	'true/false/1', 'redeliver_event: delivered, tries reset (1)');
my @rb = bodies('/e404');
is($rb[1]{id}, $e404, 'redeliver_event: same event id');
is($rb[1]{delivery_info}{current_retry}, 0, 'redeliver_event: current_retry back to 0');
is(sq(qq{SELECT string_agg(status::text, ',' ORDER BY created_at) FROM eventhooks.event_invocation_logs
         WHERE event_id = '$e404'}), '404,200', 'redeliver_event: second invocation log row');

# a 5xx with a large body, capped at the default 64kB
my $huge = 'y' x (70 * 1024);
$recv->set_rule('/e503', status => 503, body => $huge);
make_trigger('e503', $recv->url('/e503'), '{"num_retries": 0}');
my $e503 = invoke('e503');
is(poll_sql($node, qq{SELECT error FROM eventhooks.event_log WHERE id = '$e503'}, 't', 10),
	't', '503: error');
is(sq(qq{SELECT status || ':' || length(response->>'body') || ':' || (response->>'body_truncated')
         FROM eventhooks.event_invocation_logs WHERE event_id = '$e503'}),
	'503:65536:true', '503: status recorded, body capped at 64kB (default), body_truncated');

# ---------------------------------------------------------------------------
# Deleted trigger: pending events archived, not sent
# ---------------------------------------------------------------------------
$recv->set_rule('/doomed', status => 500);
# A long retry interval: the events stay pending (tries = 1) until the test
# makes their retry due by hand after the delete.
make_trigger('doomed', $recv->url('/doomed'), '{"num_retries": 5, "interval_sec": 60}');
make_trigger('canary', $recv->url('/canary'), '{}');
my @doomed = map { invoke('doomed', qq({"n": $_})) } 1 .. 3;
ok($recv->wait_for_count(3, path => '/doomed', timeout => 10), 'doomed: first attempts failed');
is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'doomed'
              AND tries = 1 AND locked IS NULL AND next_retry_at IS NOT NULL AND NOT delivered AND NOT error},
		'3', 15),
	'3', 'doomed: three events pending, waiting for a retry');
sq(q{SELECT eventhooks.delete_event_trigger('doomed')});
is(state_of('doomed'), 'false/false/1/true,false/false/1/true,false/false/1/true',
	'doomed: pending events archived by delete_event_trigger');
# Make their retry due now, then run a claim round (the canary event): an
# archived event must not be claimed.
sq(q{UPDATE eventhooks.event_log SET next_retry_at = now() - interval '1 second'
     WHERE trigger_name = 'doomed'});
my $canary = invoke('canary');
ok($recv->wait_for_count(1, path => '/canary', timeout => 10), 'canary delivered (claim round ran)');
is(poll_sql($node, qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$canary'}, 't', 10), 't',
	'canary recorded');
is($recv->count(path => '/doomed'), 3, 'doomed: nothing sent after delete');
is(state_of('doomed'), 'false/false/1/true,false/false/1/true,false/false/1/true',
	'doomed: still archived, not delivered, not retried');
is(sq(q{SELECT count(*) FROM eventhooks.event_invocation_logs WHERE trigger_name = 'doomed'}), '3',
	'doomed: no invocation log row after delete');

# An event never attempted: written and its trigger deleted in one transaction.
make_trigger('doomed2', $recv->url('/doomed2'), '{}');
my $d2 = sq(q{BEGIN; SELECT eventhooks.invoke_event_trigger('doomed2', '{}');
              SELECT eventhooks.delete_event_trigger('doomed2'); COMMIT;});
($d2) = grep { /^[0-9a-f-]{36}$/ } split /\n/, $d2;
is(sq(qq{SELECT delivered || '/' || error || '/' || tries || '/' || archived FROM eventhooks.event_log WHERE id = '$d2'}),
	'false/false/0/true', 'doomed2: event archived with its trigger');
my $canary2 = invoke('canary');
ok($recv->wait_for_count(2, path => '/canary', timeout => 10), 'second canary delivered');
is(poll_sql($node, qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$canary2'}, 't', 10), 't',
	'second canary recorded');
is($recv->count(path => '/doomed2'), 0, 'doomed2: never sent');

# ---------------------------------------------------------------------------
# Receiver down, then up on the same port
# ---------------------------------------------------------------------------
my $down = start_receiver(quiet => 1);
my $port = $down->port;
$down->stop;
make_trigger('downup', "http://127.0.0.1:$port/du", '{"num_retries": 8, "interval_sec": 1}');
my @du = map { invoke('downup', qq({"n": $_})) } 1 .. 3;
is(poll_sql($node, q{SELECT count(DISTINCT event_id) FROM eventhooks.event_invocation_logs
              WHERE trigger_name = 'downup' AND status IS NULL AND response->>'error' ILIKE '%connection refused%'},
		'3', 10),
	'3', 'down: each event had an attempt failing with "connection refused"');
is(sq(q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'downup' AND NOT delivered AND NOT error}),
	'3', 'down: events still pending');
my $up = start_receiver(port => $port, quiet => 1);
ok($up->wait_for_count(3, path => '/du', timeout => 15), 'up: events arrive once the receiver is back');
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'downup'},
		'3', 10),
	'3', 'up: all delivered');
is_deeply([ sort(event_ids_received($up, path => '/du')) ], [ sort @du ],
	'up: each event received exactly once');

# the worker is still the same process after all these failures
like(sq(q{SELECT pid FROM eventhooks.worker_status WHERE database_name = current_database()}),
	qr/^\d+$/, 'worker still running');
cmp_ok(sq(q{SELECT events_failed FROM eventhooks.worker_status WHERE database_name = current_database()}),
	'>=', 3 + 2 + 1 + 1 + 1 + 1 + 1 + 3 + 3, 'worker_status.events_failed counts failed attempts');

$node->stop;
done_testing();
