# Hostile and broken receivers (issue 17): a 100 MB response (fast and trickling),
# NUL bytes and bytes that are not UTF-8 in the body and in headers, a header
# section that never ends (fast and slow), accept and never answer, close
# mid-response, redirects, no status line, and 2000 webhooks whose hosts do not
# resolve while a healthy one keeps getting its events. Each leaves the same
# delivery worker running, the event delivered, retried or failed as SPEC §4
# says, and an invocation-log row per attempt with a clear status or error.
#
# The receiver is test/receiver/hostile_receiver.py (one process, a path per
# behaviour, bounded). Timeouts are 1-10 s and retries 0-1, so the test stays
# well under two minutes.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time usleep);

my $test_start = time();
my $json = JSON::PP->new->utf8->canonical;

# ---------------------------------------------------------------------------
# The hostile receiver
# ---------------------------------------------------------------------------
my $recv_dir = PostgreSQL::Test::Utils::tempdir('hostile');
my $port_file = "$recv_dir/port";
my $script = dirname(abs_path(__FILE__)) . '/../receiver/hostile_receiver.py';
my $parent = $$;
my $recv_pid = fork();
die "fork: $!" unless defined $recv_pid;
if ($recv_pid == 0)
{
	open(STDERR, '>', "$recv_dir/stderr") or die;
	open(STDOUT, '>', '/dev/null') or die;
	exec($ENV{PYTHON} // 'python3', $script, '--port-file', $port_file,
		'--watch-pid', $parent)
	  or die "exec: $!";
}
END { if ($recv_pid && $$ == $parent) { kill 'TERM', $recv_pid; waitpid($recv_pid, 0); } }
for (1 .. 300) { last if -s $port_file; usleep(50_000); }
my $recv_port = PostgreSQL::Test::Utils::slurp_file($port_file) =~ s/\s+//gr;
like($recv_port, qr/^\d+$/, 'hostile receiver listening');
my $base = "http://127.0.0.1:$recv_port";

sub stats
{
	my $res = HTTP::Tiny->new(timeout => 5)->get("$base/_stats");
	die "stats: $res->{status} $res->{content}" unless $res->{success};
	return $json->decode($res->{content});
}
sub hits { return stats()->{counts}{ $_[0] } // 0 }

# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------
my $node = new_eventhooks_node('hostile');
sub sq { return $node->safe_psql('postgres', $_[0]); }
sq('CREATE EXTENSION pg_eventhooks');
sq('CREATE TABLE t (id int)');
my $worker = wait_for_delivery_worker($node, 10);
ok(defined $worker, 'delivery worker running');
my $status_pid = sq(q{SELECT pid FROM eventhooks.worker_status WHERE database_name = current_database()});
is($status_pid, $worker, 'worker_status shows the same pid as pg_stat_activity');

sub make_trigger
{
	my ($name, $url, $retry_conf) = @_;
	sq(qq{SELECT eventhooks.create_event_trigger(name => '$name', table_name => 't',
	        webhook => '$url', enable_manual => true, retry_conf => '$retry_conf')});
}

# Final state of an event: delivered/error/tries, polled until it is $want.
sub settles
{
	my ($id, $want, $secs) = @_;
	return poll_sql($node,
		qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log WHERE id = '$id'},
		$want, $secs // 20);
}

# Its invocation-log rows, oldest first: [status (or ''), response as a hash].
sub attempts
{
	my ($id) = @_;
	my $out = sq(qq{SELECT coalesce(status::text, '') || '|' || response::text
	                FROM eventhooks.event_invocation_logs WHERE event_id = '$id' ORDER BY created_at});
	return map { my ($s, $r) = split /\|/, $_, 2; [ $s, $json->decode($r) ] } split /\n/, $out;
}

# ---------------------------------------------------------------------------
# One event per behaviour, all in flight together.
# ---------------------------------------------------------------------------
my %case = (
	ok              => [ '/ok',              '{"num_retries": 0}' ],
	huge            => [ '/huge',            '{"num_retries": 0, "timeout_sec": 10}' ],
	huge_slow       => [ '/huge-slow',       '{"num_retries": 0, "timeout_sec": 10}' ],
	bad_bytes       => [ '/bad-bytes',       '{"num_retries": 0}' ],
	bad_retry_after => [ '/bad-retry-after', '{"num_retries": 0, "interval_sec": 1}' ],
	nul_header      => [ '/nul-header',      '{"num_retries": 1, "interval_sec": 1}' ],
	endless_headers => [ '/endless-headers', '{"num_retries": 0, "timeout_sec": 10}' ],
	slow_headers    => [ '/slow-headers',    '{"num_retries": 0, "timeout_sec": 1}' ],
	silent          => [ '/silent',          '{"num_retries": 1, "interval_sec": 1, "timeout_sec": 1}' ],
	close_mid       => [ '/close-mid',       '{"num_retries": 1, "interval_sec": 1}' ],
	redirect_301    => [ '/redirect/301',    '{"num_retries": 0}' ],
	redirect_302    => [ '/redirect/302',    '{"num_retries": 0}' ],
	redirect_307    => [ '/redirect/307',    '{"num_retries": 0}' ],
	bad_status      => [ '/bad-status',      '{"num_retries": 1, "interval_sec": 1}' ],
);
make_trigger($_, $base . $case{$_}[0], $case{$_}[1]) for sort keys %case;
my %id;
my $sent_at = time();
$id{$_} = sq(qq{SELECT eventhooks.invoke_event_trigger('$_', '{"case": "$_"}')}) for sort keys %case;

# --- a 100 MB body: kept to http_response_max_bytes (64 kB), the rest not read
is(settles($id{huge}, 'true/false/1'), 'true/false/1', 'huge: delivered after one attempt');
my ($att) = attempts($id{huge});
is($att->[0], '200', 'huge: status 200 recorded');
is(length($att->[1]{body}), 65536, 'huge: body kept to 64 kB');
ok($att->[1]{body_truncated}, 'huge: body_truncated');
cmp_ok($att->[1]{elapsed_ms}, '<', 5000, "huge: answered in $att->[1]{elapsed_ms} ms, not at the timeout");
my $huge_stream = stats()->{streams}{'/huge'}[0] // {};
cmp_ok($huge_stream->{sent} // 0, '<', 25 * 1024 * 1024,
	"huge: the worker stopped reading (receiver got $huge_stream->{sent} of 100 MB out)");
ok($huge_stream->{client_gone}, 'huge: the worker hung up');

# --- the same, trickling in at 64 kB / 100 ms (100 MB would take minutes)
is(settles($id{huge_slow}, 'true/false/1'), 'true/false/1', 'huge-slow: delivered after one attempt');
($att) = attempts($id{huge_slow});
is($att->[0], '200', 'huge-slow: status 200 recorded');
is(length($att->[1]{body}), 65536, 'huge-slow: body kept to 64 kB');
ok($att->[1]{body_truncated}, 'huge-slow: body_truncated');
cmp_ok($att->[1]{elapsed_ms}, '<', 3000,
	"huge-slow: answered in $att->[1]{elapsed_ms} ms, not at the 10 s timeout");

# --- NULs and bytes that are not UTF-8 in the body
is(settles($id{bad_bytes}, 'true/false/1'), 'true/false/1', 'bad-bytes: delivered');
($att) = attempts($id{bad_bytes});
is($att->[0], '200', 'bad-bytes: status 200 recorded');
like($att->[1]{body}, qr/^nul byte \x{FFFD}+ bad \x{FFFD}+\( utf8 \x{FFFD}+$/,
	'bad-bytes: the body is logged, NUL as a space, bad bytes as U+FFFD');

# --- ... and in Retry-After: logged; not a number, so no extra attempt (SPEC §4)
is(settles($id{bad_retry_after}, 'false/true/1'), 'false/true/1', 'bad-retry-after: failed after one attempt');
($att) = attempts($id{bad_retry_after});
is($att->[0], '503', 'bad-retry-after: status 503 recorded');
like($att->[1]{retry_after} // '', qr/^1\x{FFFD}+$/, 'bad-retry-after: Retry-After logged with U+FFFD');

# --- a NUL inside a header line: curl refuses the response
is(settles($id{nul_header}, 'false/true/2'), 'false/true/2', 'nul-header: failed after two attempts (num_retries 1)');
my @n = attempts($id{nul_header});
is(scalar @n, 2, 'nul-header: two invocation-log rows');
like($_->[1]{error} // '', qr/^invalid HTTP response: Nul byte in header/,
	"nul-header: error '$_->[1]{error}'") for @n;
is($n[0][0], '', 'nul-header: no status recorded');

# --- headers without end, fast: curl's limit on the header section
is(settles($id{endless_headers}, 'false/true/1'), 'false/true/1', 'endless-headers: failed');
($att) = attempts($id{endless_headers});
like($att->[1]{error} // '', qr/^invalid HTTP response: Too large response headers/,
	"endless-headers: error '$att->[1]{error}'");
cmp_ok($att->[1]{elapsed_ms}, '<', 5000, "endless-headers: ended in $att->[1]{elapsed_ms} ms, by the limit");

# --- headers without end, slow: the timeout
is(settles($id{slow_headers}, 'false/true/1'), 'false/true/1', 'slow-headers: failed');
($att) = attempts($id{slow_headers});
like($att->[1]{error} // '', qr/^timed out after 1 s/, "slow-headers: error '$att->[1]{error}'");

# --- accept and never answer: timeout_sec, then one retry
is(settles($id{silent}, 'false/true/2'), 'false/true/2', 'silent: failed after two attempts');
my @s = attempts($id{silent});
is(scalar @s, 2, 'silent: two invocation-log rows');
is($_->[1]{error}, 'timed out after 1 s', 'silent: error says timed out after 1 s') for @s;

# --- close mid-response: a transport error, retried
is(settles($id{close_mid}, 'false/true/2'), 'false/true/2', 'close-mid: failed after two attempts');
my @c = attempts($id{close_mid});
is(scalar @c, 2, 'close-mid: two invocation-log rows');
is($_->[1]{error},
	'connection closed by server before the response was complete (response incomplete after HTTP status 200)',
	'close-mid: error says the response broke off') for @c;

# --- redirects: the 3xx is the answer (a failure), never followed
for my $code (301, 302, 307)
{
	is(settles($id{"redirect_$code"}, 'false/true/1'), 'false/true/1', "redirect $code: failed after one attempt");
	($att) = attempts($id{"redirect_$code"});
	is($att->[0] . ' ' . ($att->[1]{body} // ''), "$code go elsewhere", "redirect $code: status and body recorded");
}
is(hits('/target'), 0, 'no redirect was followed');

# --- no status line
is(settles($id{bad_status}, 'false/true/2'), 'false/true/2', 'bad-status: failed after two attempts');
is_deeply([ map { $_->[1]{error} } attempts($id{bad_status}) ],
	[ ('invalid HTTP response: no HTTP status line') x 2 ], 'bad-status: error says no status line');

is(settles($id{ok}, 'true/false/1'), 'true/false/1', 'the healthy webhook got its event meanwhile');
my %expected_hits = (
	'/ok' => 1, '/huge' => 1, '/huge-slow' => 1, '/bad-bytes' => 1, '/bad-retry-after' => 1,
	'/nul-header' => 2, '/endless-headers' => 1, '/slow-headers' => 1, '/silent' => 2,
	'/close-mid' => 2, '/redirect/301' => 1, '/redirect/302' => 1, '/redirect/307' => 1,
	'/bad-status' => 2);
is_deeply(stats()->{counts}, \%expected_hits, 'the receiver saw each attempt once, and no more');
is(sq(q{SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered AND NOT error}), '0', 'nothing pending');
is(delivery_worker_pid($node), $worker, 'the same delivery worker is still running');
diag(sprintf('hostile behaviours done in %.1f s', time() - $sent_at));

# ---------------------------------------------------------------------------
# 2000 webhooks on distinct hosts that never resolve, while a healthy webhook
# keeps getting its events.
#
# Each host has a label longer than DNS allows (64 characters) under .invalid
# (RFC 6761): glibc's getaddrinfo fails those at once without sending a query,
# so the test needs no network and its timing does not depend on a resolver.
# (Plain h<N>.invalid names went to this machine's resolver, which answered
# 100 concurrent queries with EAI_AGAIN only after 10-20 s: the requests' 2 s
# connect timeout bounded those. http_dns_test.cpp covers a hanging lookup.)
# ---------------------------------------------------------------------------
my $n_dns = 2000;
my $long_label = 'x' x 64;
sq(qq{DO \$\$ BEGIN FOR i IN 1..$n_dns LOOP
	PERFORM eventhooks.create_event_trigger(name => 'dns' || i, table_name => 't',
	  webhook => 'http://h' || i || '-$long_label.invalid/hook', enable_manual => true,
	  retry_conf => '{"num_retries": 0, "timeout_sec": 2}');
	END LOOP; END \$\$});

# One transaction: the 2000 events, with 10 healthy ones spread among them.
my $dns_start = time();
my @healthy = split /\n/, sq(qq{
	SELECT h FROM (SELECT i, eventhooks.invoke_event_trigger('dns' || i, '{}') AS d,
	                      CASE WHEN i % 200 = 100
	                           THEN eventhooks.invoke_event_trigger('ok', json_build_object('among', i)::jsonb)
	                      END AS h
	               FROM generate_series(1, $n_dns) i) s
	WHERE h IS NOT NULL ORDER BY i});
is(scalar @healthy, 10, 'ten healthy events committed among the 2000');
my $healthy_list = join(',', map { "'$_'" } @healthy);
is(poll_sql($node, qq{SELECT count(*) FROM eventhooks.event_log WHERE id IN ($healthy_list) AND delivered},
		'10', 30),
	'10', 'the healthy webhook got all ten');
my $healthy_secs = time() - $dns_start;
my $settled = poll_sql($node,
	q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name LIKE 'dns%' AND error AND tries = 1},
	"$n_dns", 60);
is($settled, "$n_dns", "all $n_dns unresolvable events failed after one attempt");
my $dns_secs = time() - $dns_start;
is(sq(qq{SELECT count(*) FROM eventhooks.event_invocation_logs l JOIN eventhooks.event_log e ON e.id = l.event_id
        WHERE e.trigger_name LIKE 'dns%'
          AND l.response->>'error' = 'could not resolve host "h' || substr(e.trigger_name, 4) || '-$long_label.invalid"'}),
	"$n_dns", 'each has one invocation-log row naming its host');
is(sq(q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name LIKE 'dns%' AND NOT error}), '0',
	'none is left pending');

# After the burst: healthy events one at a time, each delivered promptly.
my @latency;
for my $i (1 .. 5)
{
	my $t0 = time();
	my $hid = sq(qq{SELECT eventhooks.invoke_event_trigger('ok', '{"after_dns": $i}')});
	settles($hid, 'true/false/1', 10);
	push @latency, time() - $t0;
}
diag(sprintf('%d unresolvable events failed in %.1f s; the 10 healthy ones among them delivered '
	  . 'within %.1f s; healthy ones after: %s s', $n_dns, $dns_secs, $healthy_secs,
	join(' ', map { sprintf '%.2f', $_ } @latency)));
cmp_ok($healthy_secs, '<', 10, 'the healthy events among the 2000 were delivered within 10 s');
is(scalar(grep { $_ > 2 } @latency), 0, 'healthy events after the burst each delivered within 2 s');
is(hits('/ok'), 1 + 10 + 5, 'the receiver got each healthy event once');
is(delivery_worker_pid($node), $worker, 'the same delivery worker is still running after the DNS failures');
is(sq(q{SELECT pid FROM eventhooks.worker_status WHERE database_name = current_database()}), $worker,
	'worker_status shows it too');
cmp_ok(time() - $test_start, '<', 120, sprintf('whole test in %.0f s (< 2 minutes)', time() - $test_start));

$node->stop;
done_testing();
