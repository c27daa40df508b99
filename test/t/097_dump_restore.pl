# pg_dump and restore of a database with event triggers, events and logs (issue 19), restored
# both ways into new databases of a server that preloads the library: a plain dump with
# psql -v ON_ERROR_STOP=1, and a custom-format dump (-Fc) with pg_restore --exit-on-error.
#   - no ERROR or WARNING during either restore (nor during the dumps);
#   - the event trigger definitions are back as they were (column and payload lists, headers,
#     signing, retry_conf; row_trigger is an oid and is re-bound), and so are the cron triggers;
#   - each watched table has exactly one row trigger per event trigger: the restore does not
#     add a second one (the dumped CREATE TRIGGER is the only one);
#   - what was pending in the source (its receiver answered 503) is pending in each restored
#     database and is then delivered from each, once per database (counted by event id: each
#     id twice at the receiver, and one 2xx invocation log row per event in each database),
#     signed and shaped by the restored definition; what was delivered, and the invocation
#     logs, are not dumped, so nothing is sent again;
#   - new writes in the restored databases record events that are delivered;
#   - pg_restore --clean --if-exists over a database whose worker runs, and a restore that
#     pauses between event_log's and event_triggers' data: the worker must not archive the
#     restored pending events as those of a deleted trigger (it does: see the split restore).
# Not repeated here: 050_capture_binding.pl (c) covers a plain restore's re-binding of row
# triggers (events recorded on the restored tables, manual invocation, owner's rights, renames,
# a configuration of a dropped table); 094_timed_dump_restore.pl covers cron triggers' and
# scheduled events' pending rows in a plain restore and their delivery.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/097_dump_restore.pl

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;

my $secret = 'dump-restore secret 7Hq2';
$ENV{EH_DUMP_SECRET} = $secret;    # inherited by the server: read at send time

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('dump_restore', conf => ["eventhooks.poll_interval = '200ms'"]);
my ($orders, $items) = ($recv->url('/orders'), $recv->url('/items'));
my $retry = '{"num_retries": 1000, "interval_sec": 1}';

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', qq{
	CREATE EXTENSION pg_eventhooks;
	CREATE SCHEMA shop;
	CREATE TABLE shop.orders (id int PRIMARY KEY, amount numeric, note text, card text);
	CREATE TABLE items (id int PRIMARY KEY, name text);
	SELECT eventhooks.create_event_trigger('orders', 'shop.orders', '$orders',
		on_insert => '{"payload": ["id", "amount"]}',
		on_update => '{"columns": ["amount"], "payload": ["id", "amount"]}',
		headers => '[{"name": "X-Shop", "value": "main"}]', retry_conf => '$retry',
		signing => '{"scheme": "hmac-sha256", "secret_from_env": "EH_DUMP_SECRET"}');
	SELECT eventhooks.create_event_trigger('items', 'items', '$items',
		on_insert => '{}', on_delete => '{}', enable_manual => true, retry_conf => '$retry');
	SELECT eventhooks.create_cron_trigger('yearly', '$orders', '0 3 1 1 *',
		payload => '{"job": "yearly"}', comment => 'kept');
	SELECT eventhooks.create_cron_trigger('held', '$items', '*/5 * * * *');
	SELECT eventhooks.pause_cron_trigger('held');
});
ok(defined wait_for_delivery_worker($node, 15, undef, 'src'), 'a delivery worker serves the source database');

# Delivered events, with their invocation logs.
$node->safe_psql('src', q{
	INSERT INTO shop.orders VALUES (1, 10, 'first', '4111');
	INSERT INTO items VALUES (1, 'one'), (2, 'two');
});
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*)
	FROM eventhooks.event_log}, '3/3', 20, 'src'), '3/3', 'the first events are delivered');
is($node->safe_psql('src', q{SELECT count(*) FROM eventhooks.event_invocation_logs}), '3',
	'with their invocation logs');

# Pending events: the orders webhook answers 503, so its events are tried and wait for a retry;
# the items webhook is slow, so its events are in flight (never answered) while the dumps run.
$recv->set_rule('/orders', status => 503);
$recv->set_rule('/items',  status => 503, delay_ms => 8000);
$node->safe_psql('src', q{
	INSERT INTO shop.orders VALUES (2, 20, 'second', '4222'), (3, 30, 'third', '4333');
	UPDATE shop.orders SET amount = 11 WHERE id = 1;
	UPDATE shop.orders SET note = 'not watched' WHERE id = 2;   -- no event: not a listed column
	DELETE FROM items WHERE id = 2;
	SELECT eventhooks.invoke_event_trigger('items', '{"by": "hand"}');
});
is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log
	WHERE NOT delivered AND NOT error AND NOT archived AND tries > 0}, '3', 20, 'src'),
	'3', 'three orders events are pending, tried and waiting for a retry');
ok($recv->wait_for_count(2, path => '/items'), 'two items events are in flight');
my @pending = split /\n/, $node->safe_psql('src', q{SELECT id FROM eventhooks.event_log
	WHERE NOT delivered ORDER BY id});

my $definitions_sql = q{
	SELECT string_agg(concat_ws(' | ', name, table_name::text, webhook, webhook_from_env,
		on_insert, on_update, on_delete, enable_manual, headers, retry_conf, signing, owner),
		E'\n' ORDER BY name)
	FROM eventhooks.event_triggers};
my $cron_sql = q{
	SELECT string_agg(concat_ws(' | ', name, webhook, schedule, payload, headers, retry_conf,
		comment, signing, paused), E'\n' ORDER BY name)
	FROM eventhooks.cron_triggers};
my $source_logs = $node->safe_psql('src', q{SELECT string_agg(quote_literal(id), ', ')
	FROM eventhooks.event_invocation_logs});
my $source_logged_events = $node->safe_psql('src', q{SELECT string_agg(quote_literal(id), ', ')
	FROM eventhooks.event_log WHERE delivered});
my $definitions = $node->safe_psql('src', $definitions_sql);
my $crons = $node->safe_psql('src', $cron_sql);

# --- the dumps ------------------------------------------------------------------------------------

my $plain = $node->basedir . '/src.sql';
my $custom = $node->basedir . '/src.dump';
for my $dump ([ $plain, 'p' ], [ $custom, 'c' ])
{
	my ($stdout, $stderr) = run_command(
		[ 'pg_dump', '-F', $dump->[1], '-f', $dump->[0], '-d', $node->connstr('src') ]);
	ok(-s $dump->[0], "pg_dump -F$dump->[1] wrote a dump");
	is($stderr, '', "pg_dump -F$dump->[1] printed nothing on stderr");
}

is($node->safe_psql('src', q{SELECT string_agg(trigger_name || ' ' || (tries > 0), ', ' ORDER BY id)
	FROM eventhooks.event_log WHERE NOT delivered}),
	'orders true, orders true, orders true, items false, items false', '(the dumps were taken while items events were in flight)');

# The source stops sending (its pending events stay in the dumps only): DROP DATABASE stops
# its worker first. From here on, what the receiver gets comes from the restored databases.
$node->safe_psql('postgres', 'DROP DATABASE src');
$recv->clear;

# --- the restores ---------------------------------------------------------------------------------

sub errors_in
{
	my ($text) = @_;
	return join("\n", grep { /ERROR|WARNING|FATAL/ } split /\n/, $text);
}

$node->safe_psql('postgres', 'CREATE DATABASE r_plain');
my $psql_err = '';
ok(IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('r_plain'),
			'-f', $plain ], '>', \my $psql_out, '2>', \$psql_err),
	'the plain dump restores with psql -v ON_ERROR_STOP=1');
is(errors_in($psql_err), '', 'no ERROR or WARNING during the plain restore') or diag($psql_err);

$node->safe_psql('postgres', 'CREATE DATABASE r_custom');
my $restore_err = '';
my $restored = IPC::Run::run(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('r_custom'), $custom ],
	'>', \my $restore_out, '2>', \$restore_err);
ok($restored, 'the custom dump restores with pg_restore --exit-on-error');
is(errors_in($restore_err), '', 'no ERROR or WARNING during pg_restore') or diag($restore_err);

my @restored = qw(r_plain r_custom);
for my $db (@restored)
{
	ok(defined wait_for_delivery_worker($node, 15, undef, $db), "$db: a delivery worker serves it");
	is($node->safe_psql($db, $definitions_sql), $definitions, "$db: the event trigger definitions are back");
	is($node->safe_psql($db, $cron_sql), $crons, "$db: the cron triggers are back");
	is($node->safe_psql($db, q{
		SELECT string_agg(c.relname || ' ' || n, ', ' ORDER BY c.relname)
		FROM (SELECT tgrelid, count(*) AS n FROM pg_trigger
		      WHERE tgfoid = 'eventhooks.capture_event'::regproc GROUP BY tgrelid) t
		JOIN pg_class c ON c.oid = t.tgrelid}),
		'items 1, orders 1', "$db: one row trigger on each watched table, no duplicate");
	is($node->safe_psql($db, q{SELECT string_agg(id::text, E'\n' ORDER BY id)
		FROM eventhooks.event_log WHERE NOT delivered AND NOT error AND NOT archived}),
		join("\n", @pending), "$db: the pending events, and only they, are back");
	# (The restored worker may have tried the pending events already: those are its own logs.)
	is($node->safe_psql($db, qq{SELECT count(*) FROM eventhooks.event_invocation_logs
		WHERE id IN ($source_logs) OR event_id IN ($source_logged_events)}), '0',
		"$db: the source's invocation logs are not dumped");
}

# New writes in the restored databases, while the receiver still fails.
$node->safe_psql('r_plain', q{INSERT INTO shop.orders VALUES (1001, 1001, 'plain', '1');
	INSERT INTO items VALUES (1001, 'plain')});
$node->safe_psql('r_custom', q{INSERT INTO shop.orders VALUES (2001, 2001, 'custom', '2');
	INSERT INTO items VALUES (2001, 'custom')});

# The receiver answers again: everything pending is delivered from each restored database.
$recv->clear_rules;
for my $db (@restored)
{
	is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*)
		FROM eventhooks.event_log}, '7/7', 30, $db), '7/7', "$db: every event is delivered");
	is($node->safe_psql($db, q{SELECT count(*) FROM (SELECT event_id FROM eventhooks.event_invocation_logs
		WHERE status BETWEEN 200 AND 299 GROUP BY event_id HAVING count(*) = 1) once}),
		'7', "$db: each event was acknowledged once");
}

my (%acks, @unsigned, @shapes);
for my $r (@{ $recv->requests })
{
	next unless ($r->{status} // 0) == 200;
	my $body = decode_json($r->{body});
	$acks{ $body->{id} }++;
	next unless $r->{path} eq '/orders';
	push @unsigned, $body->{id}
	  unless ($r->{headers}{'x-hub-signature-256'} // '') eq 'sha256=' . hmac_sha256_hex($r->{body}, $secret)
	  && ($r->{headers}{'x-shop'} // '') eq 'main';
	my $row = $body->{event}{data}{new} // {};
	push @shapes, join(',', sort keys %$row);
}
is(scalar(grep { ($acks{$_} // 0) == 2 } @pending), scalar @pending,
	'each restored pending event was delivered twice: once from each restored database');
is(scalar(keys %acks), @pending + 4, 'and each new event once, nothing else');
is(scalar @unsigned, 0, 'the orders webhook got signed requests with its headers, as restored')
  or diag("unsigned: @unsigned");
is(scalar(grep { $_ ne 'amount,id' } @shapes), 0, 'and payloads with its column list')
  or diag("@shapes");

# --- pg_restore --clean over a database that has the extension and its triggers -------------------
#
# pg_restore --clean --if-exists drops what the dump holds (the row triggers, the tables, the
# extension with its worker's tables) and makes it again: no error, still one row trigger per
# event trigger, and the dump's pending events are pending again and sent again, once.
$recv->clear;
$restore_err = '';
ok(IPC::Run::run(
		[ 'pg_restore', '--clean', '--if-exists', '--exit-on-error', '-d', $node->connstr('r_custom'), $custom ],
		'>', \my $clean_out, '2>', \$restore_err),
	'pg_restore --clean --if-exists over r_custom, while its worker runs');
is(errors_in($restore_err), '', 'no ERROR or WARNING') or diag($restore_err);
is($node->safe_psql('r_custom', $definitions_sql), $definitions, 'the definitions are those of the dump');
is($node->safe_psql('r_custom', q{
	SELECT string_agg(c.relname || ' ' || n, ', ' ORDER BY c.relname)
	FROM (SELECT tgrelid, count(*) AS n FROM pg_trigger
	      WHERE tgfoid = 'eventhooks.capture_event'::regproc GROUP BY tgrelid) t
	JOIN pg_class c ON c.oid = t.tgrelid}),
	'items 1, orders 1', 'one row trigger on each watched table');
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*)
	FROM eventhooks.event_log}, '5/5', 30, 'r_custom'), '5/5', "the dump's pending events are delivered");
$node->safe_psql('r_custom', q{INSERT INTO shop.orders VALUES (3001, 3001, 'after clean', '3')});
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*)
	FROM eventhooks.event_log}, '6/6', 30, 'r_custom'), '6/6', 'and a new write is recorded and delivered');
is(join(',', sort(event_ids_received($recv))),
	join(',', sort(@pending, $node->safe_psql('r_custom',
		q{SELECT id FROM eventhooks.event_log WHERE payload->'data'->'new'->>'id' = '3001'}))),
	'each once');

# --- a restore that pauses between event_log's and event_triggers' data ----------------------------
#
# A restore loads event_log's rows before event_triggers' (pg_dump orders the data of the
# configuration tables by name, and each COPY commits on its own; pg_restore -j may run the two
# far apart). A worker that serves the database meanwhile (started by the restore's CREATE
# EXTENSION, or running all along under pg_restore --clean) finds pending events whose trigger
# is not there yet: it must not take them for a deleted trigger's events and archive them. The
# plain dump is split after event_log's data, and the worker gets time to look before the rest.
$recv->clear;
open(my $fh, '<', $plain) or die "open $plain: $!";
my @lines = <$fh>;
close $fh;
my ($header_end) = grep { $lines[$_] =~ /^SET row_security = off;/ } 0 .. $#lines;
my ($copy_start) = grep { $lines[$_] =~ /^COPY eventhooks\.event_log / } 0 .. $#lines;
my ($copy_end) = grep { $_ > $copy_start && $lines[$_] =~ /^\\\.$/ } 0 .. $#lines;
ok(defined $header_end && defined $copy_start && defined $copy_end, 'the plain dump has event_log data');
my ($first, $rest) = map { $node->basedir . "/split_$_.sql" } 1, 2;
append_to_file($first, join('', @lines[ 0 .. $copy_end ]));
append_to_file($rest, join('', @lines[ 0 .. $header_end ], @lines[ $copy_end + 1 .. $#lines ]));
$node->safe_psql('postgres', 'CREATE DATABASE r_split');
for my $part ($first, $rest)
{
	my $err = '';
	ok(IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('r_split'),
				'-f', $part ], '>', \my $out, '2>', \$err),
		"r_split: restore part $part");
	is(errors_in($err), '', 'no ERROR or WARNING') or diag($err);
	next unless $part eq $first;
	ok(defined wait_for_delivery_worker($node, 15, undef, 'r_split'), 'r_split: its worker runs');
	# Bounded wait for the defect: the worker archives the events within a round or two.
	is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log WHERE archived}, '5', 3, 'r_split'),
		'0', 'r_split: the worker does not archive pending events whose trigger is not restored yet');
}
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*)
	FROM eventhooks.event_log}, '5/5', 30, 'r_split'), '5/5', 'r_split: the pending events are delivered');
is(join(',', sort(event_ids_received($recv))), join(',', sort @pending), 'each once');

$node->stop;
done_testing();
