# One-off scheduled events (SPEC §2, issue 18): an event 2 s ahead is sent at its time, within a
# second and never before it (the fallback poll is set to 5 s, so only a worker that sleeps
# until the next due time meets that); the body and headers exactly; an event in the past within
# tolerance sent at once; retries, retries used up, Retry-After, one invocation-log row per
# attempt; standard-webhooks and hmac-sha256 signatures checked independently (Digest::SHA);
# a deleted event never sent; tolerance across a server stop (beyond it: 'dead', nothing sent;
# within it: sent once, late); 200 events due in the same second each sent exactly once.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);
use JSON::PP;
use Encode ();
use Time::HiRes qw(time usleep);

my $json = JSON::PP->new->utf8->canonical;

my $recv = start_receiver(quiet => 1);

# Environment the server inherits (read at send time, never stored).
my $key = 'U2NoZWR1bGVkRXZlbnRTaWduaW5nS2V5MzJieXRlcyE=';    # 32 bytes
my $hmac_secret = 'scheduled raw secret 7Qp';
$ENV{EH_SCHED_HEADER} = 'env-header-value-5678';
$ENV{EH_SCHED_STD}    = "whsec_$key";
$ENV{EH_SCHED_HMAC}   = $hmac_secret;

# The fallback poll well above the one-second window: an event must be sent because the worker
# slept until its time, not because a poll came by.
my $node = new_eventhooks_node('scheduled', conf => ["eventhooks.poll_interval = '5s'"]);
sub sq { return $node->safe_psql('postgres', $_[0]); }
sub sql_quote { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

sq('CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_delivery_worker($node, 10), 'delivery worker running');

# create_scheduled_event with named arguments; returns the event id.
sub create_event
{
	my ($path, $at_sql, %a) = @_;
	my $args = join '', map { ", $_ => " . sql_quote($a{$_}) } sort keys %a;
	return sq("SELECT eventhooks.create_scheduled_event(webhook => '@{[ $recv->url($path) ]}', "
		  . "schedule_at => $at_sql$args)");
}

sub only_request
{
	my ($path) = @_;
	my $reqs = $recv->requests(path => $path);
	is(scalar @$reqs, 1, "$path: exactly one request");
	return $reqs->[0] // { headers => {}, body => '{}', received_at => 0 };
}

sub body_of { return $json->decode(Encode::encode('UTF-8', $_[0]->{body})); }
sub epoch_of { return sq("SELECT extract(epoch FROM scheduled_time) FROM eventhooks.scheduled_events WHERE id = '$_[0]'"); }
sub state_of
{
	return sq("SELECT status || '/' || tries FROM eventhooks.scheduled_events WHERE id = '$_[0]'");
}
sub poll_state { return poll_sql($node,
		"SELECT status || '/' || tries FROM eventhooks.scheduled_events WHERE id = '$_[0]'", $_[1], $_[2] // 15); }
sub log_statuses
{
	return sq("SELECT coalesce(string_agg(coalesce(status::text, 'NULL'), ',' ORDER BY created_at), '') "
		  . "FROM eventhooks.scheduled_event_invocation_logs WHERE event_id = '$_[0]'");
}

sub gaps
{
	my ($path) = @_;
	my @t = map { $_->{received_at} } @{ $recv->requests(path => $path) };
	return map { $t[$_] - $t[ $_ - 1 ] } 1 .. $#t;
}

# Waits up to $secs and checks that no request beyond $n arrived on $path.
sub stays_at
{
	my ($n, $path, $secs, $name) = @_;
	$recv->wait_for_count($n + 1, path => $path, timeout => $secs);
	is($recv->count(path => $path), $n, $name);
}

# ---------------------------------------------------------------------------
# All the single events at once (their waits overlap)
# ---------------------------------------------------------------------------
$recv->set_rule('/retry', fail_first => 2, fail_status => 500);
$recv->set_rule('/exhaust', status => 500);
$recv->set_rule('/ra', fail_first => 1, fail_status => 503, retry_after => '1');

my $t_past = time();
my $past = create_event('/past', "now() - interval '10 minutes'", payload => '{"late": true}');
my $retry = create_event('/retry', 'now()', retry_conf => '{"num_retries": 2, "interval_sec": 1}');
my $exhaust = create_event('/exhaust', 'now()', retry_conf => '{"num_retries": 1, "interval_sec": 1}');
my $ra = create_event('/ra', 'now()', retry_conf => '{"num_retries": 0, "interval_sec": 30}');
my $std = create_event('/std', 'now()', payload => '{"text": "café €"}',
	signing => '{"scheme": "standard-webhooks", "secret_from_env": "EH_SCHED_STD"}');
my $gh = create_event('/gh', 'now()', payload => '{"text": "café €"}',
	signing => '{"scheme": "hmac-sha256", "secret_from_env": "EH_SCHED_HMAC"}');

# The timed one: 2 s ahead, with microseconds in its time.
my $payload = '{"user": {"id": 42, "tags": ["a", "b"]}, "n": 1.5, "s": "x\"y"}';
my $t_create = time();
my $timed = create_event('/timed', "clock_timestamp() + interval '2 s'",
	payload => $payload, comment => 'reminder: "soon"',
	headers => '[{"name": "X-Literal", "value": "literal value 1"},
	             {"name": "X-From-Env", "value_from_env": "EH_SCHED_HEADER"}]');
my $t_created = time();
my $deleted = create_event('/deleted', "clock_timestamp() + interval '2 s'");
sq("SELECT eventhooks.delete_scheduled_event('$deleted')");
is(sq("SELECT count(*) FROM eventhooks.scheduled_events WHERE id = '$deleted' AND status = 'scheduled'"),
	'0', 'delete_scheduled_event: the event no longer waits');

for my $id ($past, $retry, $exhaust, $ra, $std, $gh, $timed, $deleted)
{
	like($id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
		'create_scheduled_event returns a uuid');
}

# --- past within tolerance: at once ------------------------------------------------------
ok($recv->wait_for_count(1, path => '/past', timeout => 10), 'past event within tolerance: sent');
my $past_req = only_request('/past');
cmp_ok($past_req->{received_at} - $t_past, '<', 1.0,
	sprintf('past event: sent at once (%.3f s after creation)', $past_req->{received_at} - $t_past));
is(body_of($past_req)->{id}, $past, 'past event: its id');
is(poll_state($past, 'delivered/1'), 'delivered/1', 'past event: delivered, one try');

# --- the timed event ---------------------------------------------------------------------
ok($recv->wait_for_count(1, path => '/timed', timeout => 10), 'event 2 s ahead: sent');
my $timed_req = only_request('/timed');
my $sched_epoch = epoch_of($timed);
my $late = $timed_req->{received_at} - $sched_epoch;
note(sprintf('timed: created %.3f..%.3f, scheduled %.6f, received %.6f: %.3f s after its time',
		$t_create, $t_created, $sched_epoch, $timed_req->{received_at}, $late));
cmp_ok($late, '>=', 0, 'event 2 s ahead: not sent before its time');
cmp_ok($late, '<=', 1.0, sprintf('event 2 s ahead: sent within a second of its time (%.3f s)', $late));
my $after_create = $timed_req->{received_at} - $t_create;
ok($after_create >= 2.0 && $after_create <= 3.0 + ($t_created - $t_create),
	sprintf('event 2 s ahead: arrived 2-3 s after creation (%.3f s)', $after_create));

my $body = body_of($timed_req);
is_deeply([ sort keys %$body ], [qw(comment id payload scheduled_time)], 'body keys');
is($body->{id}, $timed, 'body id is the id create_scheduled_event returned');
is_deeply($body->{payload}, $json->decode($payload), 'body payload');
is($body->{comment}, 'reminder: "soon"', 'body comment');
like($body->{scheduled_time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:?00)$/,
	"scheduled_time is ISO-8601 UTC ($body->{scheduled_time})");
is(sq("SELECT scheduled_time = " . sql_quote($body->{scheduled_time}) . "::timestamptz "
		  . "FROM eventhooks.scheduled_events WHERE id = '$timed'"),
	't', 'scheduled_time equals schedule_at (to the microsecond)');

my $h = $timed_req->{headers};
is($timed_req->{method}, 'POST', 'method POST');
is($h->{'webhook-id'}, $timed, 'webhook-id header is the event id');
is($h->{'content-type'}, 'application/json', 'Content-Type application/json');
like($h->{'user-agent'} // '', qr{^pg_eventhooks/\S+}, 'User-Agent pg_eventhooks/<version>');
is($h->{'x-literal'}, 'literal value 1', 'configured header sent');
is($h->{'x-from-env'}, 'env-header-value-5678', 'value_from_env header read from the server environment');
ok(!exists $h->{'webhook-signature'}, 'unsigned: no signature header');

is(poll_state($timed, 'delivered/1'), 'delivered/1', 'timed: delivered, one try');
is(log_statuses($timed), '200', 'timed: one invocation-log row, status 200');
my $log = $json->decode(Encode::encode('UTF-8', sq(
	"SELECT json_build_object('request', request, 'response', response)
	 FROM eventhooks.scheduled_event_invocation_logs WHERE event_id = '$timed'")));
is_deeply($log->{request}{payload}, $body, 'invocation log: request.payload is the body sent');
is($log->{request}{url}, $recv->url('/timed'), 'invocation log: request.url');
is($log->{request}{headers}{'X-From-Env'}, '***', 'invocation log: value_from_env header masked');
is($log->{response}{status}, 200, 'invocation log: response.status');
unlike(sq('SELECT string_agg(request::text || response::text, \' \') FROM eventhooks.scheduled_event_invocation_logs'),
	qr/env-header-value-5678/, 'env header value stored nowhere in the invocation log');

# --- retries ------------------------------------------------------------------------------
ok($recv->wait_for_count(3, path => '/retry', timeout => 15), 'retries: three attempts');
is(poll_state($retry, 'delivered/3'), 'delivered/3', 'retries: delivered on the third try');
is(log_statuses($retry), '500,500,200', 'retries: one invocation-log row per attempt');
my @g = gaps('/retry');
ok(@g == 2 && !grep({ $_ < 0.9 || $_ > 3 } @g),
	'retries: about interval_sec (1 s) apart (' . join(', ', map { sprintf '%.2f', $_ } @g) . ')');
is(scalar(grep { body_of($_)->{id} eq $retry } @{ $recv->requests(path => '/retry') }), 3,
	'retries: every attempt carries the same id');

ok($recv->wait_for_count(2, path => '/exhaust', timeout => 15), 'retries used up: two attempts');
is(poll_state($exhaust, 'error/2'), 'error/2', "retries used up: status 'error'");
is(log_statuses($exhaust), '500,500', 'retries used up: two invocation-log rows');

ok($recv->wait_for_count(2, path => '/ra', timeout => 15), 'Retry-After: sent once more');
is(poll_state($ra, 'delivered/2'), 'delivered/2', 'Retry-After: delivered on the extra attempt');
@g = gaps('/ra');
ok(@g == 1 && $g[0] >= 0.9 && $g[0] < 3,
	'Retry-After: extra attempt about 1 s later (' . sprintf('%.2f', $g[0] // -1) . ' s), not after interval_sec 30');
is(log_statuses($ra), '503,200', 'Retry-After: both attempts logged');

# --- signing ------------------------------------------------------------------------------
ok($recv->wait_for_count(1, path => '/std', timeout => 10), 'standard-webhooks: sent');
my $sreq = only_request('/std');
my $sh = $sreq->{headers};
my $sbytes = Encode::encode('UTF-8', $sreq->{body});
is($sh->{'webhook-id'}, $std, 'standard-webhooks: webhook-id is the event id');
like($sh->{'webhook-timestamp'} // '', qr/^\d+$/, 'standard-webhooks: webhook-timestamp is unix seconds');
ok(abs(($sh->{'webhook-timestamp'} // 0) - $sreq->{received_at}) < 5,
	'standard-webhooks: webhook-timestamp is the send time');
is($sh->{'webhook-signature'},
	'v1,' . encode_base64(hmac_sha256("$sh->{'webhook-id'}.$sh->{'webhook-timestamp'}.$sbytes",
			decode_base64($key)), ''),
	'standard-webhooks: signature verifies (Digest::SHA)');
ok($recv->wait_for_count(1, path => '/gh', timeout => 10), 'hmac-sha256: sent');
my $greq = only_request('/gh');
is($greq->{headers}{'x-hub-signature-256'},
	'sha256=' . hmac_sha256_hex(Encode::encode('UTF-8', $greq->{body}), $hmac_secret),
	'hmac-sha256: X-Hub-Signature-256 verifies');

# --- deleted: never sent ------------------------------------------------------------------
# Its time was 2 s after creation; the timed event (same time) has been received, so the
# deleted one would have been too. Wait one more second to be sure.
stays_at(0, '/deleted', 1.5, 'deleted event: never sent');
is(sq("SELECT count(*) FROM eventhooks.scheduled_event_invocation_logs WHERE event_id = '$deleted'"),
	'0', 'deleted event: no invocation log');

# ---------------------------------------------------------------------------
# 200 events due in the same second: each sent exactly once, at its time
# ---------------------------------------------------------------------------
my @many = split /\n/, sq(q{
	SELECT eventhooks.create_scheduled_event(webhook => '} . $recv->url('/many') . q{',
	         schedule_at => date_trunc('second', now()) + interval '3 s',
	         payload => jsonb_build_object('n', g))
	FROM generate_series(1, 200) g});
is(scalar @many, 200, '200 events created');
my $many_epoch = sq(q{SELECT min(extract(epoch FROM scheduled_time)) || ' ' || max(extract(epoch FROM scheduled_time))
                      FROM eventhooks.scheduled_events WHERE webhook LIKE '%/many'});
my ($many_min, $many_max) = split / /, $many_epoch;
is($many_min, $many_max, '200 events: all due at the same time');
ok($recv->wait_for_count(200, path => '/many', timeout => 20), '200 events: all received');
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE status = 'delivered' AND tries = 1) || '/' || count(*)
                     FROM eventhooks.scheduled_events WHERE webhook LIKE '%/many'}, '200/200'),
	'200/200', '200 events: all delivered, one try each');
usleep(500_000);    # a duplicate would arrive now
my $many_reqs = $recv->requests(path => '/many');
my %times;
$times{ body_of($_)->{id} }++ for @$many_reqs;
is(scalar @$many_reqs, 200, '200 events: 200 requests');
is(scalar(grep { ($times{$_} // 0) == 1 } @many), 200, '200 events: each id received exactly once');
my @lat = sort { $a <=> $b } map { $_->{received_at} - $many_min } @$many_reqs;
note(sprintf('200 events: due-to-arrival min %.3f s, p50 %.3f s, max %.3f s',
		$lat[0], $lat[ $#lat / 2 ], $lat[-1]));
cmp_ok($lat[0], '>=', 0, '200 events: none sent before its time');
cmp_ok($lat[-1], '<=', 2.0, sprintf('200 events: all within 2 s of their time (max %.3f s)', $lat[-1]));

# ---------------------------------------------------------------------------
# Tolerance across a server stop
# ---------------------------------------------------------------------------
my $tol1 = create_event('/tol1', "clock_timestamp() + interval '3 s'",
	retry_conf => '{"tolerance_sec": 1}');
my $tol_long = create_event('/tol3600', "clock_timestamp() + interval '3 s'",
	retry_conf => '{"tolerance_sec": 3600}');
my $tol_epoch = epoch_of($tol_long);
$node->stop;
my $stopped_at = time();
cmp_ok($stopped_at, '<', $tol_epoch, 'server stopped before the events were due');
# Five seconds past their time, the server comes back: the first is 4 s beyond its tolerance.
my $wait = $tol_epoch + 5 - time();
usleep(int($wait * 1e6)) if $wait > 0;
$node->start;
my $t_started = time();
ok(defined wait_for_delivery_worker($node, 15), 'delivery worker back after the restart');
ok($recv->wait_for_count(1, path => '/tol3600', timeout => 15), 'within tolerance: sent late');
is(poll_state($tol_long, 'delivered/1'), 'delivered/1', 'within tolerance: delivered, one try');
note(sprintf('within tolerance: received %.3f s after the start, %.3f s after its time',
		$recv->requests(path => '/tol3600')->[0]{received_at} - $t_started,
		$recv->requests(path => '/tol3600')->[0]{received_at} - $tol_epoch));
is(poll_sql($node, "SELECT status FROM eventhooks.scheduled_events WHERE id = '$tol1'", 'dead', 15),
	'dead', "beyond tolerance: status 'dead'");
stays_at(1, '/tol3600', 1.5, 'within tolerance: sent once');
is($recv->count(path => '/tol1'), 0, 'beyond tolerance: nothing sent');
is(sq("SELECT count(*) FROM eventhooks.scheduled_event_invocation_logs WHERE event_id = '$tol1'"),
	'0', 'beyond tolerance: no invocation log');
is(sq("SELECT tries FROM eventhooks.scheduled_events WHERE id = '$tol1'"), '0',
	'beyond tolerance: no try counted');

$node->stop;
done_testing();
