# Who sees what, with real deliveries (issue 17; sql/visibility.sql covers the rules in full):
#   (a) two table owners, alice and bob, logged in as themselves, each read exactly their own
#       trigger, events and the invocation logs the delivery worker wrote; a role that may only
#       insert into alice's table has its write recorded and delivered, and reads nothing;
#   (b) the invocation log masks a secret header's value for everyone (superuser included),
#       while the receiver got the value, and the owner reads her literal header values;
#   (c) pg_dump: a superuser's dump has every trigger; alice's dump stops on row-level
#       security unless given --enable-row-security, and then holds her trigger only;
#   (d) a name reused by a transaction that began before the deleted trigger's last event: the
#       new trigger is as old as its creation, not its transaction, so its owner sees none of
#       the old trigger's events.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/074_visibility.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('visibility');

sub sq { return $node->safe_psql('postgres', $_[0]); }
sub as { my ($role, $sql) = @_; return $node->safe_psql('postgres', $sql, extra_params => ['-U', $role]); }

sq(q{
CREATE EXTENSION pg_eventhooks;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE writer LOGIN;
GRANT CREATE ON SCHEMA public TO alice, bob;
});
as('alice', qq{
CREATE TABLE alice_orders (id int, note text);
SELECT eventhooks.create_event_trigger('alice_hook', 'alice_orders', '@{[ $recv->url('/alice') ]}',
    on_insert => '{}',
    headers => '[{"name": "Authorization", "value": "Bearer alice-token"},
                 {"name": "X-Plain", "value": "plain-alice"}]');
GRANT INSERT ON alice_orders TO writer;
INSERT INTO alice_orders VALUES (1, 'by alice');
});
as('bob', qq{
CREATE TABLE bob_items (id int);
SELECT eventhooks.create_event_trigger('bob_hook', 'bob_items', '@{[ $recv->url('/bob') ]}',
    on_insert => '{}');
INSERT INTO bob_items VALUES (1), (2), (3);
-- Only so that alice's pg_dump below can read every table, and fails for RLS alone.
GRANT SELECT ON bob_items TO alice;
});
as('writer', q{INSERT INTO alice_orders VALUES (2, 'by writer')});

is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_invocation_logs WHERE status = 200},
		'5', 30),
	'5', 'all five events delivered and logged');
is($recv->count(path => '/alice'), 2, "alice's two events (one written by writer) reached her webhook");

# (a)
my $seen = q{
SELECT 'triggers: ' || coalesce(string_agg(name, ',' ORDER BY name), '')
FROM eventhooks.event_triggers
UNION ALL
SELECT 'events: ' || coalesce(string_agg(trigger_name || '=' || n, ',' ORDER BY trigger_name), '')
FROM (SELECT trigger_name, count(*) n FROM eventhooks.event_log GROUP BY 1) e
UNION ALL
SELECT 'logs: ' || coalesce(string_agg(trigger_name || '=' || n, ',' ORDER BY trigger_name), '')
FROM (SELECT trigger_name, count(*) n FROM eventhooks.event_invocation_logs GROUP BY 1) l};
is(as('alice', $seen), "triggers: alice_hook\nevents: alice_hook=2\nlogs: alice_hook=2",
	'(a) alice sees her trigger, its events and its logs only');
is(as('bob', $seen), "triggers: bob_hook\nevents: bob_hook=3\nlogs: bob_hook=3",
	'(a) bob sees his own only');
is(as('writer', $seen), "triggers: \nevents: \nlogs: ", '(a) a role that only inserts sees nothing');
is(sq($seen), "triggers: alice_hook,bob_hook\nevents: alice_hook=2,bob_hook=3\nlogs: alice_hook=2,bob_hook=3",
	'(a) a superuser sees everything');

# (b)
my $sent = $recv->requests(path => '/alice')->[0]{headers};
is($sent->{authorization}, 'Bearer alice-token', '(b) the secret header value is sent');
my $logged = q{
SELECT DISTINCT (request->'headers'->>'Authorization') || ' ' || (request->'headers'->>'X-Plain')
FROM eventhooks.event_invocation_logs WHERE trigger_name = 'alice_hook'};
is(as('alice', $logged), '*** plain-alice', "(b) the invocation log masks the secret value for alice");
is(sq($logged), '*** plain-alice', '(b) ... and for a superuser');
is(as('alice', q{SELECT headers->0->>'value' FROM eventhooks.event_triggers}), 'Bearer alice-token',
	'(b) the owner reads her literal header values');

# (c)
my $dump = $node->basedir . '/all.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ],
	'(c) pg_dump as a superuser');
# The event_triggers rows of a dump (the row triggers on the tables are dumped with the tables).
sub dumped_triggers
{
	my ($file) = @_;
	my ($rows) = slurp_file($file) =~ /^COPY eventhooks\.event_triggers .*?\n(.*?)^\\\.$/ms;
	return join ',', map { (split /\t/)[0] } split /\n/, $rows // '';
}
is(dumped_triggers($dump), 'alice_hook,bob_hook', '(c) the superuser dump has both triggers');
$node->command_fails_like(
	[ 'pg_dump', '-d', $node->connstr('postgres') . ' user=alice', '-f', "$dump.alice" ],
	qr/row-level security/, '(c) alice\'s pg_dump stops on row-level security');
$node->command_ok(
	[ 'pg_dump', '--enable-row-security', '-d', $node->connstr('postgres') . ' user=alice',
		'-f', "$dump.alice" ],
	'(c) alice\'s pg_dump --enable-row-security');
is(dumped_triggers("$dump.alice"), 'alice_hook', '(c) ... which holds her trigger and not bob\'s');

# (d) bob's transaction starts (now() is fixed from here on); alice's trigger "shared_name"
# records an event and is deleted; then bob's open transaction takes the name.
as('alice', qq{SELECT eventhooks.create_event_trigger('shared_name', 'alice_orders',
    '@{[ $recv->url('/alice-shared') ]}', on_insert => '{}')});
my $bob = $node->background_psql('postgres', extra_params => ['-U', 'bob']);
$bob->query_safe('BEGIN; SELECT now();');
as('alice', q{INSERT INTO alice_orders VALUES (3, 'alice row for shared_name');
              SELECT eventhooks.delete_event_trigger('shared_name');});
$bob->query_safe(qq{SELECT eventhooks.create_event_trigger('shared_name', 'bob_items',
    '@{[ $recv->url('/bob-shared') ]}', on_insert => '{}'); COMMIT;});
$bob->quit;
is(sq(q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'shared_name'}), '1',
	'(d) alice\'s event of the deleted trigger exists');
is(as('bob', q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'shared_name'}),
	'0', '(d) bob, whose transaction began before it, does not see it');
as('bob', q{INSERT INTO bob_items VALUES (4)});
is(as('bob', q{SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'shared_name'}),
	'1', '(d) ... and sees his own event of the new trigger');

done_testing();
