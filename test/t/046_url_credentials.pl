# Webhook URLs with credentials (https://user:password@host, issue 16 item 8): the request
# still carries them (libcurl sends them as Basic authorization), but no log has the
# password: the invocation log's request.url reads "user:***@host", and neither the server
# log nor worker_status.last_error nor any invocation-log row holds it, for a delivered event,
# for HTTP failures and for a transport error.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/046_url_credentials.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use MIME::Base64 qw(encode_base64);
use IO::Socket::INET;

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('credentials');
sub sq { return $node->safe_psql('postgres', $_[0]); }

my $secret = 'pw-s3cret-4711';
(my $ok_url   = $recv->url('/creds'))  =~ s{^http://}{http://alice:$secret\@};
(my $fail_url = $recv->url('/failing')) =~ s{^http://}{http://alice:$secret\@};
# A loopback port nobody listens on: a transport error.
my $closed_port = do {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
	  or die "no port: $!";
	my $p = $s->sockport;
	close $s;
	$p;
};
my $closed_url = "http://alice:$secret\@127.0.0.1:$closed_port/closed";

$recv->set_rule('/failing', status => 500);
sq(qq{
SET client_min_messages = warning;
CREATE EXTENSION pg_eventhooks;
CREATE TABLE t (id int);
SELECT eventhooks.create_event_trigger('creds', 't', '$ok_url', on_insert => '{}');
SELECT eventhooks.create_event_trigger('failing', 't', '$fail_url', on_insert => '{}',
    retry_conf => '{"num_retries": 3, "interval_sec": 0}');
SELECT eventhooks.create_event_trigger('closed', 't', '$closed_url', on_insert => '{}',
    retry_conf => '{"num_retries": 3, "interval_sec": 0}');
INSERT INTO t VALUES (1);
});

ok($recv->wait_for_count(1, path => '/creds', timeout => 30), 'event delivered');
my ($req) = @{ $recv->requests(path => '/creds') };
is($req->{headers}{authorization}, 'Basic ' . encode_base64("alice:$secret", ''),
	'the request carries the credentials');

# Both failing triggers use up their retries (4 attempts each; the WARNING comes at the 3rd).
is( poll_sql($node,
		q{SELECT count(*) FROM eventhooks.event_log WHERE error AND trigger_name IN ('failing', 'closed')},
		'2', 60),
	'2', 'failing events end in error');
is( poll_sql($node,
		q{SELECT count(*) FROM eventhooks.event_log WHERE delivered AND trigger_name = 'creds'},
		'1', 30),
	'1', 'delivered event recorded');

my $port = $recv->port;
is(sq(q{SELECT request->>'url' FROM eventhooks.event_invocation_logs WHERE trigger_name = 'creds'}),
	"http://alice:***\@127.0.0.1:$port/creds", 'invocation log: request.url masked');
is( sq(q{SELECT count(*) FROM eventhooks.event_invocation_logs
         WHERE request->>'url' LIKE 'http://alice:***@127.0.0.1:%'}),
	'9', 'invocation log: every attempt has the masked URL');
my $all_logs = sq(q{SELECT string_agg(request::text || ' ' || response::text, E'\n')
                    FROM eventhooks.event_invocation_logs});
unlike($all_logs, qr/\Q$secret\E/, 'invocation log: the password nowhere');
like(sq(q{SELECT last_error FROM eventhooks.worker_status WHERE database_name = current_database()}),
	qr/event trigger/, 'worker_status has a last error');
unlike(sq(q{SELECT last_error FROM eventhooks.worker_status}), qr/\Q$secret\E/,
	'worker_status.last_error: no password');

# What the extension wrote to the server log: every entry but the test's own statements
# (the TAP cluster runs with log_statement = all, and a statement is logged with its text).
my @entries = split /\n(?=\d{4}-\d\d-\d\d )/, slurp_file($node->logfile);
my $server_log = join("\n", grep { !/ LOG:  statement: / } @entries);
like($server_log, qr/webhook of event trigger "failing" failed 3 times/,
	'the failures were logged');
unlike($server_log, qr/\Q$secret\E/, 'server log: the password nowhere');

$node->stop;
done_testing();
