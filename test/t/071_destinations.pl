# Destinations (SPEC §6, issue 17): eventhooks.allowed_destinations / denied_destinations are
# checked on the address each connection goes to. Defaults deny link-local (169.254.169.254,
# fe80::) without connecting; denying loopback refuses http://127.0.0.1, http://localhost (by
# its resolved address) and http://[::1]; an allowed list restricts by address and by host
# name; a host-name entry denies by name. A refusal is an attempt like any failure
# ("destination denied: ..." in the invocation log, retried per retry_conf, then error) and
# the receiver gets nothing. Changes apply on reload; only a superuser may change them, and a
# list that does not parse is rejected naming the entry.
#
#   /work/wt/locked-test tap test/t/071_destinations.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use IO::Socket::INET;
use IO::Socket::IP;
use Time::HiRes qw(time usleep);

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('destinations');
sub sq { return $node->safe_psql('postgres', $_[0]); }

my $port = $recv->port;
my $closed_port = do {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
	  or die "no port: $!";
	my $p = $s->sockport;
	close $s;
	$p;
};
my $have_ipv6_loopback =
  defined IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1);
my $defaults = '169.254.0.0/16, fe80::/10';

sq(q{SET client_min_messages = warning; CREATE EXTENSION pg_eventhooks; CREATE TABLE t (id int)});

# A manual trigger per destination; a refused attempt takes no time to fail, so the timeout
# (3 s) would only show up in elapsed_ms if something actually tried to connect.
my $n = 0;
sub hook
{
	my ($url) = @_;
	my $name = 'hook_' . ++$n;
	sq(qq{SELECT eventhooks.create_event_trigger(name => '$name', table_name => 't',
	        webhook => '$url', enable_manual => true,
	        retry_conf => '{"num_retries": 1, "interval_sec": 0, "timeout_sec": 3}')});
	return $name;
}

sub send_event { return sq(qq{SELECT eventhooks.invoke_event_trigger('$_[0]', '{}')}); }

# Waits until the event is delivered or in error; returns "delivered/error/tries".
sub outcome
{
	my ($id) = @_;
	return poll_sql($node,
		qq{SELECT delivered || '/' || error || '/' || tries FROM eventhooks.event_log
		   WHERE id = '$id' AND (delivered OR error)}, qr{/}, 20);
}

# The errors of the event's attempts, one line each, in order.
sub attempt_errors
{
	my ($id) = @_;
	return sq(qq{SELECT string_agg(coalesce(response->>'error', 'status ' || status), E'\n'
	                ORDER BY created_at) FROM eventhooks.event_invocation_logs WHERE event_id = '$id'});
}

# Event to a refused destination: failed after its two attempts (num_retries 1), each one
# refused with $reason, before any connection (elapsed well under the 3 s timeout).
sub refused
{
	my ($url, $reason, $name) = @_;
	my $id = send_event(hook($url));
	is(outcome($id), 'false/true/2', "$name: failed after 2 attempts (retry_conf)");
	# A name with several addresses (localhost: 127.0.0.1 and, to libcurl, ::1) has a reason
	# for each, separated by "; ".
	like(attempt_errors($id),
		qr/\Adestination denied: (.*; )?\Q$reason\E(; .*)?\ndestination denied: (.*; )?\Q$reason\E(; .*)?\z/,
		"$name: invocation log says why");
	my $slowest = sq(qq{SELECT max((response->>'elapsed_ms')::float8)
	                    FROM eventhooks.event_invocation_logs WHERE event_id = '$id'});
	cmp_ok($slowest, '<', 1000, "$name: refused without waiting for a connection");
}

sub delivered
{
	my ($url, $name) = @_;
	my $id = send_event(hook($url));
	is(outcome($id), 'true/false/1', "$name: delivered");
}

# Applies the settings by reload and waits until the worker has them: a probe event to
# 127.0.0.2 (a closed port) is refused with the list's first entry, $marker, which differs per
# phase; until the worker has reloaded, it is refused by the previous phase's marker.
my $probe = hook("http://127.0.0.2:$closed_port/probe");
sub apply_settings
{
	my ($allowed, $denied, $marker) = @_;
	sq(qq{ALTER SYSTEM SET eventhooks.allowed_destinations = '$allowed'});
	sq(qq{ALTER SYSTEM SET eventhooks.denied_destinations = '$marker, $denied'});
	sq(q{SELECT pg_reload_conf()});
	my $deadline = time() + 20;
	my $seen = '';
	while (time() < $deadline)
	{
		my $id = send_event($probe);
		outcome($id);
		$seen = attempt_errors($id);
		return 1 if $seen =~ /matches "\Q$marker\E"/;
		usleep(100_000);
	}
	fail("settings did not reach the worker within 20 s (last probe: $seen)");
	return 0;
}

# --- Defaults: link-local denied, never connected to -------------------------------------
is(sq('SHOW eventhooks.denied_destinations'), $defaults, 'default denied_destinations');
is(sq('SHOW eventhooks.allowed_destinations'), '', 'default allowed_destinations');
refused('http://169.254.169.254/latest/meta-data/',
	'169.254.169.254 matches "169.254.0.0/16" in eventhooks.denied_destinations',
	'cloud metadata address');
refused('http://[fe80::1]/hook', 'fe80::1 matches "fe80::/10" in eventhooks.denied_destinations',
	'IPv6 link-local');
refused('http://[::ffff:169.254.169.254]/',
	'169.254.169.254 (host "::ffff:169.254.169.254") matches "169.254.0.0/16" in '
	  . 'eventhooks.denied_destinations',
	'IPv4-mapped IPv6 form of the metadata address');
delivered($recv->url('/default'), 'loopback is not denied by default');

# --- Loopback denied: by address, by a name that resolves to it, IPv6 CIDR ---------------
apply_settings('', "$defaults, 127.0.0.0/8, ::/127", '127.0.0.2');
refused($recv->url('/denied-ip'),
	'127.0.0.1 matches "127.0.0.0/8" in eventhooks.denied_destinations', 'http://127.0.0.1');
refused("http://localhost:$port/denied-name",
	'127.0.0.1 (host "localhost") matches "127.0.0.0/8" in eventhooks.denied_destinations',
	'http://localhost (its resolved address)');
SKIP:
{
	skip 'no ::1 on this machine', 3 unless $have_ipv6_loopback;
	refused("http://[::1]:$port/denied-v6",
		'::1 matches "::/127" in eventhooks.denied_destinations', 'http://[::1] (IPv6 CIDR)');
}

# --- Allowed list by address ----------------------------------------------------------------
apply_settings('127.0.0.1', $defaults, '127.0.0.2/32');
delivered($recv->url('/allowed-ip'), 'allowed_destinations = 127.0.0.1: 127.0.0.1');
SKIP:
{
	skip 'no ::1 on this machine', 3 unless $have_ipv6_loopback;
	refused("http://[::1]:$port/not-allowed-v6",
		'::1 is not in eventhooks.allowed_destinations', 'allowed_destinations = 127.0.0.1: [::1]');
}

# --- Host names: allowed by name, denied by name ---------------------------------------------
apply_settings('localhost', $defaults, '::ffff:127.0.0.2');
delivered("http://localhost:$port/allowed-name", 'allowed_destinations = localhost: localhost');
refused($recv->url('/not-allowed-ip'),
	'127.0.0.1 is not in eventhooks.allowed_destinations',
	'allowed_destinations = localhost: 127.0.0.1 (an address is not its name)');
apply_settings('', "LOCALHOST, $defaults", '127.0.0.2/31');
refused("http://localhost:$port/denied-by-name",
	'127.0.0.1 (host "localhost") matches "LOCALHOST" in eventhooks.denied_destinations',
	'denied host name');
delivered($recv->url('/ip-not-the-name'), 'denied host name: the address itself is not denied');

is($recv->count(path => $_), 0, "receiver got nothing on $_")
  for qw(/denied-ip /denied-name /denied-v6 /not-allowed-v6 /not-allowed-ip /denied-by-name);
is($recv->count, 4, 'receiver got only the four deliveries');

# --- Who may change them, and what is rejected ----------------------------------------------
my ($rc, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET eventhooks.denied_destinations = '169.254.0.0/16, 10.0.0.1/8'});
like($err, qr/invalid value for parameter "eventhooks.denied_destinations"/,
	'a list that does not parse is rejected');
like($err, qr/DETAIL:  "10.0.0.1\/8": host bits set to the right of the prefix \(did you mean 10.0.0.0\/8\?\)/,
	'the error names the bad entry');
($rc, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET eventhooks.allowed_destinations = 'https://hooks.example.com'});
like($err, qr/DETAIL:  "https:\/\/hooks.example.com": a URL; give only its host name/,
	'a URL in the list is rejected');
is(sq('SHOW eventhooks.denied_destinations'), "127.0.0.2/31, LOCALHOST, $defaults",
	'rejected values changed nothing');

sq(q{CREATE ROLE app LOGIN});
for my $setting (qw(allowed_destinations denied_destinations))
{
	($rc, $out, $err) = $node->psql('postgres',
		"SET ROLE app; SET eventhooks.$setting = ''");
	like($err, qr/parameter "eventhooks.$setting" cannot be changed now/,
		"non-superuser cannot SET $setting");
	($rc, $out, $err) = $node->psql('postgres',
		"SET SESSION AUTHORIZATION app; ALTER SYSTEM SET eventhooks.$setting = ''");
	like($err, qr/permission denied to set parameter "eventhooks.$setting"/,
		"non-superuser cannot ALTER SYSTEM SET $setting");
}

# --- A list in postgresql.conf that does not parse at server start --------------------------
# Postgres would keep the default (only link-local denied) if the check hook refused it at
# start: the worker sends nowhere instead, and says why.
sq(q{ALTER SYSTEM RESET eventhooks.allowed_destinations});
sq(q{ALTER SYSTEM RESET eventhooks.denied_destinations});
$node->append_conf('postgresql.conf', q{eventhooks.denied_destinations = '10.0.0.1/8'});
my $log_offset = -s $node->logfile;
$node->restart;
is(sq('SHOW eventhooks.denied_destinations'), '10.0.0.1/8',
	'bad list at start: the value from postgresql.conf is in force, not the default');
refused($recv->url('/after-bad-start'),
	'127.0.0.1 matches "0.0.0.0/0" in eventhooks.denied_destinations',
	'bad list at start: loopback is not reachable');
ok(wait_for_log($node, qr/WARNING:.*10\.0\.0\.1\/8.*host bits set/, 20, $log_offset),
	'bad list at start: the worker warns, naming the entry');
is($recv->count(path => '/after-bad-start'), 0, 'bad list at start: receiver got nothing');

$node->stop;
done_testing();
