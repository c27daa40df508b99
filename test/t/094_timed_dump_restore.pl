# pg_dump keeps cron triggers and scheduled events (SPEC §3: configuration tables are dumped by
# pg_extension_config_dump): a plain dump restored into a new database brings back the cron
# triggers (paused state included) and what is still to be sent (pending cron events and
# scheduled events), not what was settled; the restored database's worker then sends them, once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('timed_dump');
my $url = $recv->url('/restored');
my $nowhere = 'http://127.0.0.1:9';    # the source database's events never reach the receiver

$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_eventhooks;
	SELECT eventhooks.create_cron_trigger('nightly', '$url', '0 3 * * *',
		payload => '{"job": "nightly"}', comment => 'kept', retry_conf => '{"tolerance_sec": 600}');
	SELECT eventhooks.create_cron_trigger('held', '$nowhere/held', '*/5 * * * *');
	SELECT eventhooks.pause_cron_trigger('held');
	-- Still to be sent in the restored database (far ahead in the source, so not sent here).
	SELECT eventhooks.create_scheduled_event('$url', now() + interval '1 day',
		payload => '{"n": 1}', comment => 'later');
	-- Settled: not dumped.
	INSERT INTO eventhooks.scheduled_events (webhook, scheduled_time, owner, status, tries)
	VALUES ('$nowhere/done', now() - interval '1 hour', 'postgres', 'delivered', 1);
});
my %before = map { $_ => $node->safe_psql('postgres', $_) } (
	q{SELECT string_agg(name || ' ' || schedule || ' ' || paused || ' ' || coalesce(payload::text, '-')
		|| ' ' || coalesce(comment, '-') || ' ' || retry_conf::text, '; ' ORDER BY name)
	  FROM eventhooks.cron_triggers},
	# The paused trigger's planned events (nobody plans more of them, in either database).
	q{SELECT string_agg(trigger_name || ' ' || scheduled_time, '; ' ORDER BY scheduled_time)
	  FROM eventhooks.cron_events WHERE status = 'scheduled' AND trigger_name = 'held'},
	q{SELECT string_agg(id || ' ' || scheduled_time || ' ' || payload::text, '; ' ORDER BY id)
	  FROM eventhooks.scheduled_events WHERE status = 'scheduled'});
is(scalar(grep { $_ eq '' } values %before), 0, 'the source database has cron triggers and events');

my $dump = $node->basedir . '/timed.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('restored'), '-f', $dump ], 'restore into a new database, no error');
for my $sql (sort keys %before)
{
	is($node->safe_psql('restored', $sql), $before{$sql}, "restored as dumped: " . substr($sql, 0, 60));
}
is($node->safe_psql('restored',
		q{SELECT count(*) FROM eventhooks.scheduled_events WHERE status <> 'scheduled'}),
	'0', 'settled scheduled events are not dumped');

# The restored database's worker sends what was pending: move the scheduled event to now.
is($node->safe_psql('restored', q{SELECT count(*) > 0 FROM eventhooks.cron_events
	WHERE trigger_name = 'nightly' AND status = 'scheduled' AND scheduled_time > now()}),
	't', "the other trigger's next time is there too");
ok(defined wait_for_delivery_worker($node, 15, undef, 'restored'), 'a delivery worker serves the restored database');
$node->safe_psql('restored', q{UPDATE eventhooks.scheduled_events SET scheduled_time = now()
	WHERE status = 'scheduled'});
ok($recv->wait_for_count(1, path => '/restored'), 'the restored scheduled event is sent');
is(poll_sql($node, q{SELECT status || '/' || tries FROM eventhooks.scheduled_events
	WHERE comment = 'later'}, qr/delivered/, 15, 'restored'), 'delivered/1', 'and recorded delivered');
sleep 1;
is($recv->count(path => '/restored'), 1, 'sent once');
done_testing();
