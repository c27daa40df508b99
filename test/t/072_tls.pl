# TLS (SPEC §6, issue 17): certificates and host names are verified by default. A receiver
# whose certificate comes from a private CA is refused (the invocation log shows the
# certificate error) until eventhooks.ca_file names that CA and the server reloads; then it is
# reached by address and by name. A certificate for another host name is refused even with
# the CA. A CA file replaced in place is read again on reload. The CA and certificates are made for this run, in its temp dir (openssl CLI).
#
#   /work/wt/locked-test tap test/t/072_tls.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Time::HiRes qw(time usleep);

my $dir = PostgreSQL::Test::Utils::tempdir('tls');

sub openssl
{
	my @cmd = ('openssl', @_);
	my ($stdout, $stderr);
	IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr)
	  or BAIL_OUT("@cmd failed: $stderr");
}

# A throwaway CA, and two server certificates it signs: one for localhost / 127.0.0.1 and
# one for another host name.
my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
openssl('req', '-x509', @ec, '-keyout', "$dir/ca.key", '-out', "$dir/ca.pem", '-days', '2',
	'-subj', '/CN=pg_eventhooks test CA',
	'-addext', 'basicConstraints=critical,CA:TRUE',
	'-addext', 'keyUsage=critical,keyCertSign,cRLSign');
for my $cert ([ 'good', 'DNS:localhost,IP:127.0.0.1' ], [ 'other', 'DNS:other.example' ])
{
	my ($name, $san) = @$cert;
	openssl('req', @ec, '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr",
		'-subj', "/CN=$name");
	PostgreSQL::Test::Utils::append_to_file("$dir/$name.ext",
		"subjectAltName=$san\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
	openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/ca.pem",
		'-CAkey', "$dir/ca.key", '-CAcreateserial', '-days', '2',
		'-extfile', "$dir/$name.ext", '-out', "$dir/$name.pem");
}

my $good = start_receiver(quiet => 1,
	args => [ '--tls-cert', "$dir/good.pem", '--tls-key', "$dir/good.key" ]);
my $other = start_receiver(quiet => 1,
	args => [ '--tls-cert', "$dir/other.pem", '--tls-key', "$dir/other.key" ]);
my $good_url = 'https://127.0.0.1:' . $good->port;
my $other_url = 'https://127.0.0.1:' . $other->port;

my $node = new_eventhooks_node('tls');
sub sq { return $node->safe_psql('postgres', $_[0]); }
sq(q{SET client_min_messages = warning; CREATE EXTENSION pg_eventhooks; CREATE TABLE t (id int)});

my $n = 0;
sub hook
{
	my ($url) = @_;
	my $name = 'tls_' . ++$n;
	sq(qq{SELECT eventhooks.create_event_trigger(name => '$name', table_name => 't',
	        webhook => '$url', enable_manual => true,
	        retry_conf => '{"num_retries": 0, "timeout_sec": 5}')});
	return $name;
}

# Sends one event; returns "delivered/error" once it has an outcome, and its attempt's error.
sub send_once
{
	my ($trigger) = @_;
	my $id = sq(qq{SELECT eventhooks.invoke_event_trigger('$trigger', '{}')});
	my $outcome = poll_sql($node,
		qq{SELECT delivered || '/' || error FROM eventhooks.event_log
		   WHERE id = '$id' AND (delivered OR error)}, qr{/}, 20);
	my $error = sq(qq{SELECT coalesce(string_agg(response->>'error', E'\n'), '')
	                  FROM eventhooks.event_invocation_logs WHERE event_id = '$id'});
	return ($outcome, $error);
}

is(sq('SHOW eventhooks.ca_file'), '', 'ca_file unset: the system store');

my $by_address = hook("$good_url/by-address");
my $by_name = hook('https://localhost:' . $good->port . '/by-name');
my $wrong_host = hook("$other_url/wrong-host");

# --- Without ca_file: the private CA is not trusted ----------------------------------------
my ($outcome, $error) = send_once($by_address);
is($outcome, 'false/true', 'private CA without ca_file: attempt failed');
like($error, qr/^TLS certificate verify failed: .*(unable to get local issuer certificate|self.signed)/,
	'the invocation log shows the certificate error');
is($good->count(path => '/by-address'), 0, 'nothing reached the receiver');

# --- With ca_file + reload ------------------------------------------------------------------
sq(qq{ALTER SYSTEM SET eventhooks.ca_file = '$dir/ca.pem'});
sq(q{SELECT pg_reload_conf()});
# The worker takes the reload in asynchronously: send until one gets through (bounded).
my $deadline = time() + 20;
my $attempts = 0;
while (time() < $deadline)
{
	$attempts++;
	($outcome, $error) = send_once($by_address);
	last if $outcome eq 'true/false';
	usleep(100_000);
}
is($outcome, 'true/false', "after ca_file + reload: delivered over TLS ($attempts event(s))");
is($good->count(path => '/by-address'), 1, 'the receiver got it once');
($outcome, $error) = send_once($by_name);
is($outcome, 'true/false', 'https://localhost: delivered (name in the certificate)');

# --- A certificate for another host name: refused even with the CA --------------------------
($outcome, $error) = send_once($wrong_host);
is($outcome, 'false/true', 'certificate for another host name: attempt failed');
like($error, qr/^TLS certificate verify failed: .*(subject name|host ?name)/i,
	'the invocation log shows the host name mismatch');
is($other->count(path => '/wrong-host'), 0, 'nothing reached that receiver');

# --- The CA file replaced in place (a rotated private CA) takes effect on reload ------------
# libcurl caches the CA store by the file's path; a new connection after the reload must use
# the new contents. A second CA that did not sign the receiver's certificate now sits at the
# same path, and a receiver never connected to before (no keep-alive connection) is refused.
openssl('req', '-x509', @ec, '-keyout', "$dir/ca2.key", '-out', "$dir/ca2.pem", '-days', '2',
	'-subj', '/CN=pg_eventhooks other test CA',
	'-addext', 'basicConstraints=critical,CA:TRUE',
	'-addext', 'keyUsage=critical,keyCertSign,cRLSign');
my $fresh = start_receiver(quiet => 1,
	args => [ '--tls-cert', "$dir/good.pem", '--tls-key', "$dir/good.key" ]);
my $fresh_hook = hook('https://127.0.0.1:' . $fresh->port . '/fresh');
PostgreSQL::Test::Utils::append_to_file("$dir/ca2.pem.new", slurp_file("$dir/ca2.pem"));
rename("$dir/ca2.pem.new", "$dir/ca.pem") or die "rename: $!";
# Seeing the reload: a probe to 127.0.0.2 (nothing listens there) fails with "connection
# refused" until the worker has the new denied_destinations, which name that address.
my $probe = hook('http://127.0.0.2:9/probe');
sq(q{ALTER SYSTEM SET eventhooks.denied_destinations = '127.0.0.2, 169.254.0.0/16, fe80::/10'});
sq(q{SELECT pg_reload_conf()});
$deadline = time() + 20;
do { ($outcome, $error) = send_once($probe); }
  until $error =~ /^destination denied/ || time() > $deadline;
like($error, qr/^destination denied: 127.0.0.2/, 'the worker has reloaded');
($outcome, $error) = send_once($fresh_hook);
is($outcome, 'false/true', 'CA file replaced in place + reload: the old CA is no longer trusted');
like($error, qr/^TLS certificate verify failed: /, 'the invocation log shows the certificate error');
is($fresh->count, 0, 'nothing reached the receiver');

$node->stop;
done_testing();
