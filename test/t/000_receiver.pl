# Tests of the test webhook receiver (test/receiver/receiver.py) and of the
# receiver half of EventhooksTest.pm.  No PostgreSQL server needed.
#
#   prove -I test/perl test/t/000_receiver.pl

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Encode ();
use Time::HiRes qw(time usleep);
use EventhooksTest;

my $json = JSON::PP->new->utf8->canonical;

# A fresh client per call: no keep-alive, so a dropped connection is never
# silently retried by HTTP::Tiny.
sub post
{
	my ($url, $body, %headers) = @_;
	return HTTP::Tiny->new(timeout => 20, proxy => undef, http_proxy => undef)
	  ->request('POST', $url, { content => $body, headers => \%headers });
}

# One raw HTTP/1.1 exchange reader: returns (status, headers, body) for the
# next response on $sock, using Content-Length.
sub read_response
{
	my ($sock) = @_;
	local $/ = "\r\n";
	my $status_line = <$sock>;
	return unless defined $status_line;
	my ($status) = $status_line =~ m{^HTTP/1\.1 (\d{3})};
	my %h;
	while (defined(my $line = <$sock>))
	{
		last if $line eq "\r\n";
		$line =~ s/\r\n$//;
		my ($k, $v) = split /:\s*/, $line, 2;
		$h{ lc $k } = $v;
	}
	my $body = '';
	if (my $len = $h{'content-length'})
	{
		read($sock, $body, $len) == $len or return;
	}
	return ($status, \%h, $body);
}

my $recv = start_receiver();
ok($recv->port > 0, 'receiver reports a port');
like($recv->url('/x'), qr{^http://127\.0\.0\.1:\d+/x$}, 'url() is on 127.0.0.1');
ok($recv->health, 'health endpoint answers ok');
is($recv->count, 0, 'nothing recorded at start');

# --- binding: 127.0.0.1 only (127.0.0.2 is loopback too on Linux, so a
# wildcard bind would accept there) ---
{
	my $s = IO::Socket::INET->new(
		PeerAddr => '127.0.0.2',
		PeerPort => $recv->port,
		Proto    => 'tcp',
		Timeout  => 2);
	ok(!$s, 'not listening on 127.0.0.2 (bound to 127.0.0.1 only)');
}

# --- default answer and recording ---
my $body = $json->encode({ id => 'evt-1', text => "caf\x{e9} \x{2603}" });
my $t0   = time();
my $res  = post(
	$recv->url('/hook'), $body,
	'Content-Type'    => 'application/json',
	'X-Custom-Header' => 'Some Value',
	'X-Repeated'      => [ 'one', 'two' ]);
is($res->{status},  200,           'default status is 200');
is($res->{content}, '{"ok":true}', 'default body is {"ok":true}');
is($res->{headers}{'content-length'}, 11, 'Content-Length sent');

my $reqs = $recv->requests;
is(scalar @$reqs, 1, 'one request recorded');
my $r = $reqs->[0];
is($r->{seq},    1,       'seq starts at 1');
is($r->{method}, 'POST',  'method recorded');
is($r->{path},   '/hook', 'path recorded');
is($r->{status}, 200,     'answered status recorded');
ok(!$r->{dropped}, 'not marked dropped');
is(Encode::encode('UTF-8', $r->{body}), $body, 'body recorded byte-exact (UTF-8)');
is($r->{headers}{'x-custom-header'}, 'Some Value', 'header name lowercased, value kept');
ok(!exists $r->{headers}{'X-Custom-Header'}, 'no mixed-case header key');
is($r->{headers}{'content-type'}, 'application/json', 'content-type recorded');
is($r->{headers}{'x-repeated'},   'one, two',         'repeated header joined with ", "');
ok(abs($r->{received_at} - $t0) < 5, 'received_at is a unix timestamp near now');

# any method, any path, query string kept
$res = HTTP::Tiny->new(proxy => undef, http_proxy => undef)
  ->request('PUT', $recv->url('/other/path?a=1&b=2'), { content => 'x' });
is($res->{status}, 200, 'PUT answered');
$reqs = $recv->requests(path => '/other/path');
is(scalar @$reqs, 1, 'filter by path ignores the query string');
is($reqs->[0]{method}, 'PUT',                'PUT recorded');
is($reqs->[0]{path},   '/other/path?a=1&b=2', 'query string kept in path');
is($reqs->[0]{seq},    2,                    'seq increments');

# control requests are not recorded; count with and without path
is($recv->count, 2, 'count counts all recorded requests (control ones excluded)');
is($recv->count(path => '/hook'), 1, 'count filtered by path');
is(scalar @{ $recv->requests(path => '/nothing') }, 0, 'filter with no match');

# --- log file ---
{
	open(my $fh, '<', $recv->log_file) or die "open log: $!";
	my @lines = <$fh>;
	is(scalar @lines, 2, 'one JSON line per recorded request in the log');
	my $first = $json->decode($lines[0]);
	is($first->{headers}{'x-custom-header'}, 'Some Value', 'log line has the request');
}

# --- rule: status + retry_after + body ---
$recv->set_rule('/s', status => 503, retry_after => '7', body => 'nope');
$res = post($recv->url('/s'), '{}');
is($res->{status},  503,    'rule status applied');
is($res->{content}, 'nope', 'rule body applied');
is($res->{headers}{'retry-after'}, '7', 'Retry-After on non-2xx status');
is($recv->requests(path => '/s')->[0]{status}, 503, 'recorded status is the answered one');

$recv->set_rule('/ok', status => 204, retry_after => '7');
$res = post($recv->url('/ok'), '{}');
is($res->{status}, 204, '2xx rule status');
ok(!exists $res->{headers}{'retry-after'}, 'no Retry-After on a 2xx answer');

# --- rule: fail_first ---
$recv->set_rule('/ff', status => 200, fail_first => 2, fail_status => 502,
	retry_after => '3');
my @st = map { post($recv->url('/ff'), "n$_") } 1 .. 4;
is_deeply([ map { $_->{status} } @st ], [ 502, 502, 200, 200 ],
	'first K requests fail with fail_status, then status');
is($st[0]{headers}{'retry-after'}, '3', 'Retry-After on failing answers');
ok(!exists $st[2]{headers}{'retry-after'}, 'no Retry-After once succeeding');
is_deeply([ map { $_->{status} } @{ $recv->requests(path => '/ff') } ],
	[ 502, 502, 200, 200 ], 'recorded statuses follow fail_first');

# fail_status defaults to 500; re-setting a rule resets the count
$recv->set_rule('/ff', fail_first => 1);
is(post($recv->url('/ff'), 'a')->{status}, 500, 'fail_status defaults to 500, count reset');
is(post($recv->url('/ff'), 'b')->{status}, 200, 'status defaults to 200');

# --- rule: delay_ms ---
$recv->set_rule('/slow', delay_ms => 400);
$t0  = time();
$res = post($recv->url('/slow'), 'z');
my $elapsed = time() - $t0;
is($res->{status}, 200, 'delayed request answered');
ok($elapsed >= 0.39, "delay_ms honoured (took ${elapsed}s)");
$t0 = time();
post($recv->url('/fast'), 'z');
ok(time() - $t0 < 0.39, 'other paths are not delayed');

# delayed requests are recorded before they are answered
{
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $recv->port)
	  or die "connect: $!";
	$recv->set_rule('/inflight', delay_ms => 1500);
	print $sock "POST /inflight HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
	ok($recv->wait_for_count(1, path => '/inflight', timeout => 1),
		'in-flight delayed request already recorded');
	my ($s) = read_response($sock);
	is($s, 200, 'in-flight request answered after its delay');
}

# --- rule: drop ---
$recv->set_rule('/drop', drop => 1);
$res = post($recv->url('/drop'), 'd');
is($res->{status}, 599, 'dropped connection: client sees no response');
$reqs = $recv->requests(path => '/drop');
is(scalar @$reqs, 1, 'dropped request recorded');
ok($reqs->[0]{dropped}, 'recorded as dropped');
is($reqs->[0]{status}, undef, 'dropped request has status null');

$recv->set_rule('/dropfirst', drop => 1, fail_first => 1, status => 201);
is(post($recv->url('/dropfirst'), '1')->{status}, 599, 'drop + fail_first: first dropped');
is(post($recv->url('/dropfirst'), '2')->{status}, 201, 'drop + fail_first: then status');

# --- bad rule ---
{
	my $bad = HTTP::Tiny->new(proxy => undef, http_proxy => undef)->request(
		'POST', $recv->url('/_control/rules'),
		{ content => '{"status": 500}' });
	is($bad->{status}, 400, 'rule without path rejected');
	eval { $recv->set_rule('/x', bogus => 1) };
	like($@, qr/400/, 'set_rule croaks on unknown rule key');
}

# --- keep-alive: two requests on one connection ---
{
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $recv->port)
	  or die "connect: $!";
	print $sock "POST /ka HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1";
	my ($s1, $h1, $b1) = read_response($sock);
	print $sock "POST /ka HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n2";
	my ($s2, $h2, $b2) = read_response($sock);
	is_deeply([ $s1, $b1, $s2, $b2 ], [ 200, '{"ok":true}', 200, '{"ok":true}' ],
		'keep-alive: two answers on one connection');
}

# --- concurrency: 120 connections open at once, each with a request ---
{
	$recv->clear_rules;
	$recv->set_rule('/conc', delay_ms => 200);
	my @socks;
	for my $i (1 .. 120)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $recv->port)
		  or die "connect $i: $!";
		print $s "POST /conc HTTP/1.1\r\nHost: x\r\nContent-Length: "
		  . length("c$i") . "\r\n\r\nc$i";
		push @socks, $s;
	}
	$t0 = time();
	my $okn = grep { (read_response($_))[0] == 200 } @socks;
	my $took = time() - $t0;
	is($okn, 120, '120 concurrent connections all answered');
	ok($took < 5, "concurrent delayed requests served in parallel (${took}s)");
}

# --- clear, clear_rules, wait_for_count, event ids ---
my $before = $recv->count;
ok($before > 10, 'many requests recorded so far');
$recv->clear;
is($recv->count, 0, 'clear empties the record');
is(scalar @{ $recv->requests }, 0, 'requests empty after clear');

$recv->set_rule('/hook', status => 500);
$recv->clear_rules;
is(post($recv->url('/hook'), $json->encode({ id => 'a' }))->{status}, 200,
	'clear_rules restores the default answer');
post($recv->url('/hook'),  $json->encode({ id => 'b' }));
post($recv->url('/hook'),  $json->encode({ id => 'a' }));
post($recv->url('/other'), $json->encode({ id => 'z' }));
post($recv->url('/hook'),  'not json');
is($recv->requests->[0]{seq}, $before + 1, 'seq keeps increasing after clear');

is_deeply([ event_ids_received($recv, path => '/hook') ], [ 'a', 'b', 'a' ],
	'event_ids_received: ids in order, duplicates kept, non-JSON skipped');
is_deeply([ event_ids_received($recv) ], [ 'a', 'b', 'a', 'z' ],
	'event_ids_received without path');

ok($recv->wait_for_count(5, timeout => 2), 'wait_for_count: reached');
$t0 = time();
ok(!$recv->wait_for_count(6, timeout => 0.5), 'wait_for_count: times out with 0');
ok(time() - $t0 >= 0.5, 'wait_for_count waited for its timeout');
ok($recv->wait_for_count(1, path => '/other', timeout => 1), 'wait_for_count with path');
ok(!$recv->wait_for_count(2, path => '/other', timeout => 0.2),
	'wait_for_count with path counts only that path');

# --- stop ---
my $port = $recv->port;
is($recv->stop, 0, 'receiver exits 0 on SIGTERM');
ok(!$recv->alive, 'receiver process gone');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 2),
	'port closed after stop');

# a second receiver (with --quiet) works too
my $r2 = start_receiver(quiet => 1);
ok($r2->port > 0 && $r2->alive, 'second receiver started');
is(post($r2->url('/q'), 'q')->{status}, 200, 'second receiver answers');
is($r2->count, 1, 'second receiver has its own record');

done_testing();
