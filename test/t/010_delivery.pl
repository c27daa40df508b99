# Delivery (SPEC §4, §5), part 1: exact request body and headers for INSERT,
# UPDATE, DELETE and MANUAL events, session variables, value_from_env and
# webhook_from_env (set and unset), response body cap and its reload,
# worker_status, and a slow webhook beside a fast one.
# Failure handling (retries, timeouts, Retry-After, 3xx/4xx/5xx, redeliver,
# deleted triggers, receiver down/up) is in 011_delivery_failures.pl.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use JSON::PP;
use Time::HiRes qw(time usleep);
use Encode ();

my $json = JSON::PP->new->utf8->canonical;

my $recv = start_receiver(quiet => 1);

# Environment the server sees (the postmaster inherits ours).
$ENV{EH_TEST_HEADER_VALUE} = 'env-header-value-1234';
$ENV{EH_TEST_WEBHOOK_URL}  = $recv->url('/fromenv');
delete $ENV{EH_TEST_UNSET_URL};
delete $ENV{EH_TEST_UNSET_HEADER};

my $node = new_eventhooks_node('delivery',
	conf => ["eventhooks.http_response_max_bytes = '1kB'"]);

sub sq { return $node->safe_psql('postgres', $_[0]); }


# Decoded JSON bodies of the requests received on $path (in order of receipt).
sub bodies
{
	my ($path) = @_;
	return map { $json->decode(Encode::encode('UTF-8', $_->{body})) }
	  @{ $recv->requests(path => $path) };
}


sub sql_quote { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

sq('CREATE EXTENSION pg_eventhooks');
my $worker_pid = poll_sql($node, 
	q{SELECT coalesce(pid::text, '') FROM eventhooks.worker_status
	  WHERE database_name = current_database()}, qr/^\d+$/, 10);
like($worker_pid, qr/^\d+$/, 'worker_status shows a delivery worker pid for this database');
is( sq("SELECT count(*) FROM pg_stat_activity WHERE pid = $worker_pid AND datname = 'postgres'"),
	'1', 'worker_status pid is a live process connected to this database');

# ---------------------------------------------------------------------------
# Exact body and headers: INSERT, UPDATE, DELETE, MANUAL
# ---------------------------------------------------------------------------
sq(qq{
CREATE TABLE t_basic (id int PRIMARY KEY, name text, price numeric, meta jsonb, flag bool);
SELECT eventhooks.create_event_trigger(
  name => 'basic', table_name => 't_basic', webhook => '@{[ $recv->url('/basic') ]}',
  on_insert => '{}', on_update => '{}', on_delete => '{}', enable_manual => true,
  headers => '[{"name": "X-Literal", "value": "literal value 1"},
               {"name": "X-From-Env", "value_from_env": "EH_TEST_HEADER_VALUE"}]');
});

my $sv_insert = '{"x-hasura-role": "user", "x-hasura-user-id": "42"}';
my $sv_delete = '{"x-hasura-role": "admin"}';

my $sent_events = sq(q{SELECT events_sent FROM eventhooks.worker_status
                      WHERE database_name = current_database()});

sq(qq{BEGIN; SET LOCAL eventhooks.session_variables = @{[ sql_quote($sv_insert) ]};
     INSERT INTO t_basic VALUES (1, 'alice', 12.50, '{"k": [1, 2]}', true); COMMIT;});
ok($recv->wait_for_count(1, path => '/basic', timeout => 10), 'INSERT event delivered');
sq(q{UPDATE t_basic SET name = 'bob' WHERE id = 1});
ok($recv->wait_for_count(2, path => '/basic', timeout => 10), 'UPDATE event delivered');
sq(qq{BEGIN; SET LOCAL eventhooks.session_variables = @{[ sql_quote($sv_delete) ]};
     DELETE FROM t_basic WHERE id = 1; COMMIT;});
ok($recv->wait_for_count(3, path => '/basic', timeout => 10), 'DELETE event delivered');
my $manual_id = sq(q{SELECT eventhooks.invoke_event_trigger('basic', '{"hello": "world", "n": 7}')});
like($manual_id, qr/^[0-9a-f-]{36}$/, 'invoke_event_trigger returns an event id');
ok($recv->wait_for_count(4, path => '/basic', timeout => 10), 'MANUAL event delivered');

my $reqs = $recv->requests(path => '/basic');
is(scalar @$reqs, 4, 'exactly four requests for four events');

my %row_alice = (id => 1, name => 'alice', price => 12.5, meta => { k => [ 1, 2 ] }, flag => 1);
my %row_bob = (%row_alice, name => 'bob');
my %expect = (
	INSERT => { old => undef, new => \%row_alice, sv => $json->decode($sv_insert) },
	UPDATE => { old => \%row_alice, new => \%row_bob, sv => undef },
	DELETE => { old => \%row_bob, new => undef, sv => $json->decode($sv_delete) },
	MANUAL => { old => undef, new => { hello => 'world', n => 7 }, sv => undef });

# JSON booleans as 1/0 so that is_deeply compares them with plain numbers.
sub plain
{
	my ($v) = @_;
	return $v ? 1 : 0 if JSON::PP::is_bool($v);
	return { map { $_ => plain($v->{$_}) } keys %$v } if ref $v eq 'HASH';
	return [ map { plain($_) } @$v ] if ref $v eq 'ARRAY';
	return $v;
}

my %seen_op;
for my $r (@$reqs)
{
	my $body = $json->decode(Encode::encode('UTF-8', $r->{body}));
	my $op = $body->{event}{op} // 'none';
	$seen_op{$op}++;
	my $e = $expect{$op};
	ok($e, "op $op is one of INSERT/UPDATE/DELETE/MANUAL") or next;

	is($r->{method}, 'POST', "$op: method POST");
	is_deeply([ sort keys %$body ],
		[qw(created_at delivery_info event id table trigger)], "$op: top-level body keys");
	is_deeply([ sort keys %{ $body->{event} } ],
		[qw(data op session_variables)], "$op: event keys");
	is_deeply([ sort keys %{ $body->{event}{data} } ], [qw(new old)], "$op: data keys");
	is_deeply(plain($body->{event}{data}{old}), $e->{old}, "$op: data.old");
	is_deeply(plain($body->{event}{data}{new}), $e->{new}, "$op: data.new");
	is_deeply($body->{event}{session_variables}, $e->{sv}, "$op: session_variables");
	is_deeply($body->{delivery_info}, { max_retries => 0, current_retry => 0 },
		"$op: delivery_info");
	is_deeply($body->{trigger}, { name => 'basic' }, "$op: trigger");
	is_deeply($body->{table}, { schema => 'public', name => 't_basic' }, "$op: table");
	like($body->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/,
		"$op: created_at is ISO-8601");

	# id is the event_log row's id, and that row is this event
	my $id = $body->{id} // '';
	like($id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "$op: id is a uuid");
	is( sq(qq{SELECT trigger_name || ' ' || (payload->>'op') || ' ' ||
	           (created_at = @{[ sql_quote($body->{created_at}) ]}::timestamptz)
	         FROM eventhooks.event_log WHERE id = @{[ sql_quote($id) ]}}),
		"basic $op true", "$op: id equals event_log.id (same trigger, op and created_at)");

	like($r->{body}, qr/"price":\s*12\.50?[,}]/, "$op: numeric column sent as a JSON number")
	  if $e->{new} && $e->{new}{price} || $e->{old} && $e->{old}{price};

	my $h = $r->{headers};
	is($h->{'webhook-id'}, $id, "$op: webhook-id header is the event id");
	is($h->{'content-type'}, 'application/json', "$op: Content-Type application/json");
	like($h->{'user-agent'} // '', qr{^pg_eventhooks/\S+}, "$op: User-Agent pg_eventhooks/<version>");
	is($h->{'x-literal'}, 'literal value 1', "$op: literal header sent");
	is($h->{'x-from-env'}, 'env-header-value-1234', "$op: value_from_env header read from the server environment");
}
is_deeply(\%seen_op, { INSERT => 1, UPDATE => 1, DELETE => 1, MANUAL => 1 },
	'one request per op');
is(scalar(grep { $json->decode(Encode::encode('UTF-8', $_->{body}))->{id} eq $manual_id } @$reqs),
	1, 'MANUAL request carries the id returned by invoke_event_trigger');

is( poll_sql($node, 
		q{SELECT count(*) FILTER (WHERE delivered AND NOT error AND tries = 1 AND locked IS NULL)
		  || '/' || count(*) FROM eventhooks.event_log WHERE trigger_name = 'basic'}, '4/4'),
	'4/4', 'event_log: all four delivered, tries = 1, not locked');

# invocation log: one row per attempt, headers masked, payload = body sent
my $log = sq(q{SELECT json_agg(json_build_object('event_id', event_id, 'status', status,
                'request', request, 'response', response))
              FROM eventhooks.event_invocation_logs WHERE trigger_name = 'basic'});
my $logs = $json->decode($log);
is(scalar @$logs, 4, 'one invocation log row per attempt');
my %sent_body = map {
	my $b = $json->decode(Encode::encode('UTF-8', $_->{body}));
	($b->{id} => $b)
} @$reqs;
for my $l (@$logs)
{
	my $op = $l->{request}{payload}{event}{op} // 'none';
	is($l->{status}, 200, "log $op: status 200");
	is($l->{request}{url}, $recv->url('/basic'), "log $op: request.url");
	is($l->{request}{headers}{'X-From-Env'}, '***', "log $op: value_from_env header masked");
	is($l->{request}{headers}{'X-Literal'}, 'literal value 1', "log $op: literal header logged");
	ok(!grep({ defined $_ && $_ eq 'env-header-value-1234' } values %{ $l->{request}{headers} }),
		"log $op: env value appears nowhere in logged headers");
	is_deeply($l->{request}{payload}, $sent_body{ $l->{event_id} },
		"log $op: request.payload is the body sent");
	is($l->{response}{status}, 200, "log $op: response.status");
	is($l->{response}{body}, '{"ok":true}', "log $op: response.body");
	ok(JSON::PP::is_bool($l->{response}{body_truncated}) && !$l->{response}{body_truncated},
		"log $op: body_truncated false");
	ok(defined $l->{response}{elapsed_ms} && $l->{response}{elapsed_ms} >= 0,
		"log $op: elapsed_ms recorded");
}
unlike(sq(q{SELECT string_agg(request::text || response::text, ' ') FROM eventhooks.event_invocation_logs}),
	qr/env-header-value-1234/, 'env header value never stored in the invocation log');

# worker_status counts
my $sent_after = poll_sql($node, 
	qq{SELECT events_sent >= $sent_events + 4 FROM eventhooks.worker_status
	   WHERE database_name = current_database()}, 't', 5);
is($sent_after, 't', 'worker_status.events_sent increased by the deliveries');

# ---------------------------------------------------------------------------
# webhook_from_env, unset environment variables
# ---------------------------------------------------------------------------
sq(qq{
CREATE TABLE t_env (id int);
SELECT eventhooks.create_event_trigger(
  name => 'env_url', table_name => 't_env', webhook_from_env => 'EH_TEST_WEBHOOK_URL',
  on_insert => '{}');
SELECT eventhooks.create_event_trigger(
  name => 'env_url_unset', table_name => 't_env', webhook_from_env => 'EH_TEST_UNSET_URL',
  on_insert => '{}');
SELECT eventhooks.create_event_trigger(
  name => 'env_header_unset', table_name => 't_env', webhook => '@{[ $recv->url('/envhdr') ]}',
  on_insert => '{}',
  headers => '[{"name": "X-Visible", "value": "v"},
               {"name": "X-Missing", "value_from_env": "EH_TEST_UNSET_HEADER"}]');
INSERT INTO t_env VALUES (1);
});
ok($recv->wait_for_count(1, path => '/fromenv', timeout => 10),
	'webhook_from_env: URL read from the server environment');
my ($envreq) = @{ $recv->requests(path => '/fromenv') };
is($json->decode(Encode::encode('UTF-8', $envreq->{body}))->{trigger}{name}, 'env_url',
	'webhook_from_env: request is the env_url event');

for my $t (qw(env_url_unset env_header_unset))
{
	is( poll_sql($node, 
			qq{SELECT error AND NOT delivered FROM eventhooks.event_log
			   WHERE trigger_name = '$t'}, 't', 10),
		't', "$t: event failed (error = true, retries 0)");
	my $row = sq(qq{SELECT count(*) || '|' || bool_and(status IS NULL) || '|' ||
	                  max(response->>'error')
	               FROM eventhooks.event_invocation_logs WHERE trigger_name = '$t'});
	my ($n, $null_status, $err) = split /\|/, $row, 3;
	is($n, 1, "$t: one invocation log row");
	is($null_status, 'true', "$t: status NULL");
	my $var = $t eq 'env_url_unset' ? 'EH_TEST_UNSET_URL' : 'EH_TEST_UNSET_HEADER';
	like($err // '', qr/\Q$var\E.*not set/, "$t: error names the variable and says it is not set");
}
is(sq(q{SELECT request->'headers'->>'X-Missing' FROM eventhooks.event_invocation_logs
       WHERE trigger_name = 'env_header_unset'}),
	'***', 'unset value_from_env header logged as ***');
is($recv->count(path => '/envhdr'), 0, 'nothing sent when a header variable is unset');

# the worker survived and keeps delivering
sq(q{INSERT INTO t_basic VALUES (2, 'carol', 1, null, false)});
ok($recv->wait_for_count(5, path => '/basic', timeout => 10),
	'worker keeps delivering after env failures');
is( sq(q{SELECT pid FROM eventhooks.worker_status WHERE database_name = current_database()}),
	$worker_pid, 'same delivery worker (no crash/restart)');

# ---------------------------------------------------------------------------
# Response body cap (1kB from postgresql.conf), then changed by reload
# ---------------------------------------------------------------------------
my $big = 'x' x 3000;
$recv->set_rule('/big', status => 200, body => $big);
sq(qq{
CREATE TABLE t_big (id int);
SELECT eventhooks.create_event_trigger(
  name => 'big', table_name => 't_big', webhook => '@{[ $recv->url('/big') ]}',
  enable_manual => true);
});
my $big1 = sq(q{SELECT eventhooks.invoke_event_trigger('big', '{"n": 1}')});
is( poll_sql($node, 
		qq{SELECT length(response->>'body') || ' ' || (response->>'body_truncated') || ' ' || status
		   FROM eventhooks.event_invocation_logs WHERE event_id = '$big1'}, '1024 true 200', 10),
	'1024 true 200', 'response body capped at http_response_max_bytes (1kB), body_truncated true');
is(sq(qq{SELECT delivered FROM eventhooks.event_log WHERE id = '$big1'}), 't',
	'truncated response still counts as delivered');

sq(q{ALTER SYSTEM SET eventhooks.http_response_max_bytes = '100B'});
sq(q{SELECT pg_reload_conf()});
# The worker applies SIGHUP asynchronously: send events until one shows the new cap.
my $len = '';
my $deadline = time() + 15;
my $tries = 0;
while (time() < $deadline)
{
	$tries++;
	my $id = sq(q{SELECT eventhooks.invoke_event_trigger('big', '{"n": 2}')});
	$len = poll_sql($node, 
		qq{SELECT coalesce(length(response->>'body') || ' ' || (response->>'body_truncated'), 'none')
		   FROM eventhooks.event_invocation_logs RIGHT JOIN (SELECT 1) x ON event_id = '$id'},
		'100 true', 5);
	last if $len eq '100 true';
	usleep(200_000);
}
is($len, '100 true', "after ALTER SYSTEM + pg_reload_conf the worker caps bodies at 100 bytes ($tries event(s))");
sq(q{ALTER SYSTEM RESET eventhooks.http_response_max_bytes});
sq(q{SELECT pg_reload_conf()});

# ---------------------------------------------------------------------------
# Slow webhook beside a fast one
# ---------------------------------------------------------------------------
$recv->set_rule('/slow', delay_ms => 5000);
sq(qq{
CREATE TABLE t_slow (id int);
CREATE TABLE t_fast (id int);
SELECT eventhooks.create_event_trigger(
  name => 'slow', table_name => 't_slow', webhook => '@{[ $recv->url('/slow') ]}',
  on_insert => '{}', retry_conf => '{"timeout_sec": 30}');
SELECT eventhooks.create_event_trigger(
  name => 'fast', table_name => 't_fast', webhook => '@{[ $recv->url('/fast') ]}',
  on_insert => '{}');
});
my $t_slow = time();
sq(q{INSERT INTO t_slow SELECT g FROM generate_series(1, 60) g});
ok($recv->wait_for_count(60, path => '/slow', timeout => 4),
	'60 slow requests in flight concurrently');
my $t0 = time();
sq(q{INSERT INTO t_fast SELECT g FROM generate_series(1, 5) g});
ok($recv->wait_for_count(5, path => '/fast', timeout => 10), 'fast events delivered');
my $fast_took = time() - $t0;
my @fast_at = map { $_->{received_at} } @{ $recv->requests(path => '/fast') };
my $last_fast = (sort { $b <=> $a } @fast_at)[0] // 1e12;
cmp_ok($last_fast - $t0, '<', 2.0,
	'fast webhook events all arrive within 2 s while the slow webhook is busy');
is( sq(q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'slow'}),
	'0', 'slow events not yet delivered when the fast ones arrived')
  if time() - $t_slow < 4.5;
is( poll_sql($node, 
		q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'slow'},
		'60', 20),
	'60', 'all slow events delivered in the end');
cmp_ok(time() - $t_slow, '>=', 4.9, 'slow events took the receiver delay');
is($recv->count(path => '/slow'), 60, 'each slow event sent once');
is( sq(q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log WHERE trigger_name = 'fast'}),
	'5', 'fast events delivered');

is( poll_sql($node, 
		qq{SELECT events_sent >= $sent_events + 4 + 1 + 1 + 65 FROM eventhooks.worker_status
		   WHERE database_name = current_database()}, 't', 5),
	't', 'worker_status.events_sent keeps counting');

$node->stop;
done_testing();
