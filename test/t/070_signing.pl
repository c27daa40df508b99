# Signed requests (SPEC §6): standard-webhooks and hmac-sha256 signatures checked against what
# the receiver got, independently of the server's OpenSSL (Perl's Digest::SHA and MIME::Base64,
# and Python's hmac module); a retry signed afresh; rotation with two secrets; a changed signing
# configuration taking effect; a missing or malformed secret failing the attempt with its reason
# and sending nothing; signatures masked in the invocation log; the secrets in neither the
# invocation log nor the server log.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);
use Encode ();
use IPC::Open3;

my $recv = start_receiver(quiet => 1);

# The secrets, in the environment the server inherits (read at send time, never stored).
my $key_a = 'Sg1Gn1nGk3yAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';    # 32 bytes
my $key_b = 'cm90YXRpb24tc2Vjb25kLWtleS1mb3ItdGhlLXRlc3Qh';    # "rotation-second-key-for-the-test!"
my $hmac_secret = 'gh-style raw secret Zq8vX2';
my $bad_secret  = 'whsec_not*base64*QmFkU2VjcmV0';
$ENV{EH_SIGN_STD}    = "whsec_$key_a";
$ENV{EH_SIGN_ROTATE} = "whsec_$key_a whsec_$key_b";
$ENV{EH_SIGN_HMAC}   = $hmac_secret;
$ENV{EH_SIGN_BAD}    = $bad_secret;
delete $ENV{EH_SIGN_UNSET};
my @secret_texts = ($key_a, $key_b, $hmac_secret, $bad_secret, 'QmFkU2VjcmV0');

my $node = new_eventhooks_node('signing');
sub sq { return $node->safe_psql('postgres', $_[0]); }

sq('CREATE EXTENSION pg_eventhooks');
sq('CREATE TABLE t_signed (id int PRIMARY KEY, note text)');

sub create_trigger
{
	my ($name, $path, $signing, $retry) = @_;
	$retry //= '{}';
	my $signing_arg = defined $signing ? ", signing => '$signing'" : '';
	sq(qq{SELECT eventhooks.create_event_trigger(
	        name => '$name', table_name => 't_signed', webhook => '@{[ $recv->url($path) ]}',
	        on_insert => '{}', retry_conf => '$retry', replace => true $signing_arg)});
}

create_trigger('std',   '/std',   '{"scheme": "standard-webhooks", "secret_from_env": "EH_SIGN_STD"}');
create_trigger('rot',   '/rot',   '{"scheme": "standard-webhooks", "secret_from_env": "EH_SIGN_ROTATE"}');
create_trigger('gh',    '/gh',    '{"scheme": "hmac-sha256", "secret_from_env": "EH_SIGN_HMAC"}');
create_trigger('gh2',   '/gh2',
	'{"scheme": "hmac-sha256", "secret_from_env": "EH_SIGN_HMAC", "header": "X-Signature"}');
create_trigger('retry', '/retry', '{"scheme": "standard-webhooks", "secret_from_env": "EH_SIGN_STD"}',
	'{"num_retries": 1, "interval_sec": 1}');
create_trigger('unset', '/unset', '{"scheme": "standard-webhooks", "secret_from_env": "EH_SIGN_UNSET"}');
create_trigger('bad',   '/bad',   '{"scheme": "standard-webhooks", "secret_from_env": "EH_SIGN_BAD"}');
create_trigger('plain', '/plain', undef);
# The receiver fails the first attempt of /retry: the retry comes one second later.
$recv->set_rule('/retry', fail_first => 1, fail_status => 503);

# Non-ASCII text: the signature covers the body's UTF-8 bytes as sent.
sq(q{INSERT INTO t_signed VALUES (1, 'café € "quoted"')});

for my $path (qw(/std /rot /gh /gh2 /plain))
{
	ok($recv->wait_for_count(1, path => $path, timeout => 20), "$path: delivered");
}
ok($recv->wait_for_count(2, path => '/retry', timeout => 20), '/retry: failed once, then retried');
is( poll_sql($node,
		q{SELECT string_agg(trigger_name || ':' || error, ',' ORDER BY trigger_name)
		  FROM eventhooks.event_log WHERE trigger_name IN ('unset', 'bad')},
		'bad:true,unset:true'),
	'bad:true,unset:true',
	'missing and malformed secrets: the events failed (no retries configured)');

sub only_request
{
	my ($path) = @_;
	my $reqs = $recv->requests(path => $path);
	is(scalar @$reqs, 1, "$path: exactly one request");
	return $reqs->[0];
}

sub body_bytes { return Encode::encode('UTF-8', $_[0]->{body}); }

sub event_id_of
{
	my ($trigger) = @_;
	return sq(qq{SELECT id FROM eventhooks.event_log WHERE trigger_name = '$trigger'
	             ORDER BY created_at DESC LIMIT 1});
}

# The Standard Webhooks signature of a request, computed here with Digest::SHA.
sub expected_std
{
	my ($key_b64, $r) = @_;
	my $h = $r->{headers};
	my $signed = "$h->{'webhook-id'}.$h->{'webhook-timestamp'}." . body_bytes($r);
	return 'v1,' . encode_base64(hmac_sha256($signed, decode_base64($key_b64)), '');
}

# The same, computed by Python's hmac module (a second, unrelated implementation).
sub python_std
{
	my ($key_b64, $r) = @_;
	my $h = $r->{headers};
	my $script = 'import sys,hmac,hashlib,base64;'
	  . 'k=base64.b64decode(sys.argv[1]);m=sys.stdin.buffer.read();'
	  . 'print("v1,"+base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()).decode())';
	my $pid = open3(my $in, my $out, undef, 'python3', '-c', $script, $key_b64);
	print $in "$h->{'webhook-id'}.$h->{'webhook-timestamp'}." . body_bytes($r);
	close $in;
	my $sig = <$out>;
	waitpid($pid, 0);
	chomp $sig if defined $sig;
	return $sig;
}

# --- standard-webhooks --------------------------------------------------------------------
my $std = only_request('/std');
my $std_id = event_id_of('std');
is($std->{headers}{'webhook-id'}, $std_id, 'std: webhook-id is the event id, sent once');
like($std->{headers}{'webhook-timestamp'}, qr/^\d+$/, 'std: webhook-timestamp is unix seconds');
ok(abs($std->{headers}{'webhook-timestamp'} - $std->{received_at}) < 10,
	'std: webhook-timestamp is the send time');
like($std->{headers}{'webhook-signature'}, qr/^v1,[A-Za-z0-9+\/]{43}=$/,
	'std: one v1 signature');
is($std->{headers}{'webhook-signature'}, expected_std($key_a, $std),
	'std: signature verifies (Digest::SHA)');
is($std->{headers}{'webhook-signature'}, python_std($key_a, $std),
	'std: signature verifies (Python hmac)');
my $accented = Encode::decode('UTF-8', 'café €');    # this file is UTF-8, without "use utf8"
like($std->{body}, qr/\Q$accented\E/, 'std: the body holds the non-ASCII row as sent');

# --- rotation -----------------------------------------------------------------------------
my $rot = only_request('/rot');
my @sigs = split / /, $rot->{headers}{'webhook-signature'};
is(scalar @sigs, 2, 'rotation: two space-separated signatures');
is($sigs[0], expected_std($key_a, $rot), 'rotation: first signature valid for the first secret');
is($sigs[1], expected_std($key_b, $rot), 'rotation: second signature valid for the second secret');

# --- hmac-sha256 --------------------------------------------------------------------------
my $gh = only_request('/gh');
is($gh->{headers}{'x-hub-signature-256'}, 'sha256=' . hmac_sha256_hex(body_bytes($gh), $hmac_secret),
	'hmac-sha256: X-Hub-Signature-256 verifies');
ok(!exists $gh->{headers}{'webhook-signature'} && !exists $gh->{headers}{'webhook-timestamp'},
	'hmac-sha256: no standard-webhooks signature headers');
my $gh2 = only_request('/gh2');
is($gh2->{headers}{'x-signature'}, 'sha256=' . hmac_sha256_hex(body_bytes($gh2), $hmac_secret),
	'hmac-sha256: a configured header name verifies');
ok(!exists $gh2->{headers}{'x-hub-signature-256'}, 'hmac-sha256: only the configured header');

my $plain = only_request('/plain');
ok( !grep({ /signature|timestamp/ } keys %{ $plain->{headers} }),
	'no signing: no signature headers');

# --- a retry is signed afresh -------------------------------------------------------------
my $retries = $recv->requests(path => '/retry');
is(scalar @$retries, 2, 'retry: two attempts');
my ($t1, $t2) = map { $_->{headers}{'webhook-timestamp'} } @$retries;
cmp_ok($t2, '>', $t1, 'retry: the second attempt carries a later timestamp');
for my $i (0, 1)
{
	is($retries->[$i]{headers}{'webhook-signature'}, expected_std($key_a, $retries->[$i]),
		"retry: attempt @{[ $i + 1 ]} signature valid for its own timestamp");
}
isnt($retries->[0]{headers}{'webhook-signature'}, $retries->[1]{headers}{'webhook-signature'},
	'retry: the signatures differ');

# --- missing and malformed secrets --------------------------------------------------------
is($recv->count(path => '/unset') + $recv->count(path => '/bad'), 0,
	'missing or malformed secret: nothing sent');
is( sq(q{SELECT l.response->>'error' FROM eventhooks.event_invocation_logs l
         WHERE l.trigger_name = 'unset'}),
	'signing: environment variable "EH_SIGN_UNSET" is not set',
	'missing secret: the invocation log says why');
is( sq(q{SELECT l.response->>'error' FROM eventhooks.event_invocation_logs l
         WHERE l.trigger_name = 'bad'}),
	'signing: secret in "EH_SIGN_BAD" is not valid: expected whsec_<base64>',
	'malformed secret: the invocation log says why, without the secret');

# --- the invocation log -------------------------------------------------------------------
is( sq(qq{SELECT string_agg(DISTINCT
             (request->'headers'->>'webhook-id' = event_id::text) || ' ' ||
             (request->'headers'->>'webhook-signature'), ',')
         FROM eventhooks.event_invocation_logs WHERE trigger_name IN ('std', 'rot', 'retry')}),
	'true ***', 'invocation log: webhook-id shown, webhook-signature masked');
is( sq(q{SELECT string_agg(request->'headers'->>'webhook-timestamp', ',' ORDER BY created_at)
         FROM eventhooks.event_invocation_logs WHERE trigger_name = 'retry'}),
	"$t1,$t2", 'invocation log: each attempt\'s webhook-timestamp shown as sent');
is( sq(q{SELECT string_agg(trigger_name || ' ' || (request->'headers'->>'X-Hub-Signature-256'),
                           ',' ORDER BY trigger_name)
         FROM eventhooks.event_invocation_logs WHERE trigger_name = 'gh'}),
	'gh ***', 'invocation log: the hmac-sha256 header masked');

# --- a changed signing configuration takes effect at once ---------------------------------
create_trigger('gh', '/gh', '{"scheme": "standard-webhooks", "secret_from_env": "EH_SIGN_STD"}');
sq(q{INSERT INTO t_signed VALUES (2, 'second')});
ok($recv->wait_for_count(2, path => '/gh', timeout => 20), 'gh after replace: delivered');
my $gh_new = $recv->requests(path => '/gh')->[1];
is($gh_new->{headers}{'webhook-signature'}, expected_std($key_a, $gh_new),
	'gh after replace: signed with the new scheme');
ok(!exists $gh_new->{headers}{'x-hub-signature-256'}, 'gh after replace: old header gone');
ok($recv->wait_for_count(2, path => '/std', timeout => 20), 'std: second event delivered');

# --- no secret stored or logged -----------------------------------------------------------
my $stored = sq(q{SELECT coalesce(string_agg(l::text, E'\n'), '') FROM eventhooks.event_invocation_logs l})
  . sq(q{SELECT string_agg(t::text, E'\n') FROM eventhooks.event_triggers t})
  . sq(q{SELECT string_agg(e::text, E'\n') FROM eventhooks.event_log e});
my $server_log = slurp_file($node->logfile);
for my $n (0 .. $#secret_texts)
{
	my $secret = $secret_texts[$n];
	ok(index($stored, $secret) < 0, "secret $n is in no eventhooks table");
	ok(index($server_log, $secret) < 0, "secret $n is not in the server log");
}
ok(index($stored, $std->{headers}{'webhook-signature'}) < 0, 'no signature value is stored');

$node->stop;
done_testing();
