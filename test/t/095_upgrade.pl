# Upgrades (issue 19): a database made with the released 0.1.0 is updated with
# ALTER EXTENSION pg_eventhooks UPDATE while its delivery worker runs and a writer inserts:
#   (a) events pending at the update (the receiver answers 500, so they wait for retries) and
#       events written during and after it are all delivered, each exactly once (counted by
#       event id at the receiver); the cron trigger and the scheduled event survive it, and the
#       scheduled event is sent once; the worker is the same process before and after (no
#       restart, no crash in the server log); extversion is the new default;
#   (b) the new functions work: eventhooks.metadata() answers export_metadata with a v3
#       metadata document (this needs the metadata API of issue 19, not only the stub);
#   (c) the eventhooks schema of a database updated from each older version equals that of a
#       fresh CREATE EXTENSION (a generic catalog listing), and the listing does notice an
#       object that one side lacks.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/095_upgrade.pl

use strict;
use warnings;

use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use EventhooksTest;

my $recv = start_receiver(quiet => 1);
my $node = new_eventhooks_node('upgrade', conf => ["eventhooks.poll_interval = '200ms'"]);
my $default_version = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'pg_eventhooks'});

# --- (a) 0.1.0 with pending events, updated under load ------------------------------------------

my $orders = $recv->url('/orders');
my $timed = $recv->url('/timed');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_eventhooks VERSION '0.1.0';
	CREATE TABLE orders (id bigserial PRIMARY KEY, client int, note text);
	SELECT eventhooks.create_event_trigger('orders', 'orders', '$orders',
		on_insert => '{}', on_update => '{"columns": ["note"]}',
		retry_conf => '{"num_retries": 1000, "interval_sec": 1}');
	SELECT eventhooks.create_cron_trigger('yearly', '$timed', '0 3 1 1 *', payload => '{"job": "yearly"}');
	SELECT eventhooks.create_scheduled_event('$timed', now() + interval '1 day',
		payload => '{"n": 1}', comment => 'later');
});
is($node->safe_psql('postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'pg_eventhooks'}),
	'0.1.0', 'the database starts on the released 0.1.0');
my $worker = wait_for_delivery_worker($node, 15);
ok(defined $worker, 'a delivery worker serves the 0.1.0 database');

# The 0.1.0 database delivers with this library (which serves every version).
$node->safe_psql('postgres', q{INSERT INTO orders (client, note) VALUES (0, 'first')});
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) FROM eventhooks.event_log}, '1', 20),
	'1', 'the 0.1.0 database delivers an event');

# From here the receiver fails every request, slowly: requests are in flight during the update.
$recv->set_rule('/orders', status => 500, delay_ms => 200);
$node->safe_psql('postgres', q{
	INSERT INTO orders (client, note) SELECT 0, 'before ' || g FROM generate_series(1, 5) g;
	UPDATE orders SET note = note || ', updated' WHERE id IN (2, 3);
});
# Every event was tried and failed (500): they wait for their retries, pending.
ok($recv->wait_for_count(8, path => '/orders'), 'the events written before the update were tried');
is(poll_sql($node, q{SELECT count(*) FROM eventhooks.event_log
	WHERE NOT delivered AND NOT error AND NOT archived AND tries > 0}, '7', 20),
	'7', 'and wait for a retry');

# A dump of the 0.1.0 database, restored into a new database at the end (d).
my $dump_010 = $node->basedir . '/at_0.1.0.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump_010 ],
	'pg_dump of the 0.1.0 database');
my @pending_010 = split /\n/, $node->safe_psql('postgres', q{SELECT id FROM eventhooks.event_log
	WHERE NOT delivered ORDER BY id});
my $definitions_sql = q{SELECT string_agg(concat_ws(' | ', name, table_name::text, webhook,
	on_insert, on_update, on_delete, retry_conf, owner), E'\n' ORDER BY name)
	FROM eventhooks.event_triggers};
my $definitions_010 = $node->safe_psql('postgres', $definitions_sql);

my $log_offset = -s $node->logfile;

# A writer that inserts while the update runs: pgbench at a fixed rate, ~3 s in all.
my $script = $node->basedir . '/insert_one.sql';
append_to_file($script, "INSERT INTO orders (client, note) VALUES (:client_id, 'pgbench');\n");
my ($bench_out, $bench_err) = ('', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-c', 2, '-j', 2, '-t', 150, '-R', 100,
		'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$bench_out, '2>', \$bench_err,
	IPC::Run::timeout(120));
like(poll_sql($node, q{SELECT count(*) > 0 FROM orders WHERE note = 'pgbench'}, 't', 20),
	qr/t/, 'the writer is inserting');

is(poll_sql($node, q{SELECT requests_in_flight > 0 FROM eventhooks.worker_status
	WHERE database_name = current_database()}, 't', 10), 't', 'the worker has requests in flight');
my ($rc, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION pg_eventhooks UPDATE');
is($rc, 0, 'ALTER EXTENSION pg_eventhooks UPDATE succeeds while the writer inserts') or diag($err);
my $pgbench_at_update = $node->safe_psql('postgres',
	q{SELECT count(*) FROM orders WHERE note = 'pgbench'});
is($node->safe_psql('postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'pg_eventhooks'}),
	$default_version, "extversion is $default_version");

$pgbench->finish;
is($?, 0, 'the writer ran without errors') or diag($bench_err);
like($bench_out, qr{number of transactions actually processed: 300/300}, 'all its inserts committed');
cmp_ok($pgbench_at_update, '<', 300, 'the writer was still inserting when the update had committed')
  or diag("pgbench rows at the update's commit: $pgbench_at_update");

# Writes after the update, then the receiver answers again.
$node->safe_psql('postgres', q{
	INSERT INTO orders (client, note) SELECT 0, 'after ' || g FROM generate_series(1, 5) g;
	UPDATE orders SET note = note || ', again' WHERE id = 4;
	UPDATE orders SET client = 7 WHERE id = 5;  -- not a watched column: no event
});
$recv->clear_rules;

my $expected = 1 + 5 + 2 + 300 + 5 + 1;
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*)
	FROM eventhooks.event_log WHERE trigger_name = 'orders'}, "$expected/$expected", 60),
	"$expected/$expected", 'every event is delivered: pending before, written during and after the update');

my %ok_by_id;
for my $r (@{ $recv->requests(path => '/orders') })
{
	next unless defined $r->{status} && $r->{status} == 200;
	my $body = eval { decode_json($r->{body}) };
	$ok_by_id{ $body->{id} }++ if ref $body eq 'HASH';
}
my @logged = split /\n/, $node->safe_psql('postgres',
	q{SELECT id FROM eventhooks.event_log WHERE trigger_name = 'orders' ORDER BY id});
is(scalar(grep { ($ok_by_id{$_} // 0) == 1 } @logged), $expected,
	'the receiver acknowledged each recorded event exactly once');
is(scalar(keys %ok_by_id), $expected, 'and nothing else');

# The scheduled event and the cron trigger came through the update.
is($node->safe_psql('postgres', q{SELECT name || ' ' || schedule || ' ' || payload::text
	FROM eventhooks.cron_triggers}), 'yearly 0 3 1 1 * {"job": "yearly"}', 'the cron trigger is kept');
is($node->safe_psql('postgres', q{SELECT count(*) > 0 FROM eventhooks.cron_events
	WHERE trigger_name = 'yearly' AND status = 'scheduled'}), 't', 'and its next event is planned');
$node->safe_psql('postgres', q{UPDATE eventhooks.scheduled_events SET scheduled_time = now()
	WHERE comment = 'later'});
is(poll_sql($node, q{SELECT status || '/' || tries FROM eventhooks.scheduled_events
	WHERE comment = 'later'}, qr/delivered/, 20), 'delivered/1', 'the scheduled event is sent after the update');
is($recv->count(path => '/timed'), 1, 'once');

is(delivery_worker_pid($node), $worker, 'the delivery worker is the same process as before the update');
is($node->safe_psql('postgres', q{SELECT pid FROM eventhooks.worker_status
	WHERE database_name = current_database()}), $worker, 'and worker_status shows it');
my $log = slurp_file($node->logfile, $log_offset);
my @bad = grep { /terminated by signal|exited with exit code|\b(PANIC|FATAL):/ } split /\n/, $log;
is(scalar @bad, 0, 'no worker crashed or exited during and after the update') or diag(join "\n", @bad);

# --- (b) the new functions ------------------------------------------------------------------------

($rc, $out, $err) = $node->psql('postgres',
	q{SELECT eventhooks.metadata('{"type": "export_metadata", "args": {}}')});
is($rc, 0, 'metadata() answers export_metadata after the update') or diag($err);
my $doc = $rc == 0 ? eval { decode_json($out) } : undef;
is(ref $doc eq 'HASH' ? $doc->{version} : undef, 3, 'with a v3 metadata document');

# --- (c) the schema of an updated database equals that of a fresh install ----------------------
#
# Today CREATE EXTENSION runs pg_eventhooks--0.1.0.sql and then every upgrade script, so a fresh
# database and an updated one run the same statements. The comparison protects the day a later
# version ships a full install script (pg_eventhooks--X.Y.Z.sql, for speed or to squash the
# chain): then a fresh install no longer runs the upgrade scripts, and anything that one of
# them forgets (or the full script forgets) makes updated databases differ from new ones. It
# compares every version older than the default, updated, with a fresh CREATE EXTENSION.

# One line per object of the extension, by name (no oids): schema and extension settings
# (config tables with their dump conditions), members (pg_depend deptype 'e') with their
# comments, functions (arguments, result, language, volatility, security, ACL and a digest of
# the full definition), relations with their columns, constraints, indexes, triggers (with their
# ENABLE state), policies, views, types and event triggers.
my $catalog_sql = q{
WITH ext AS (SELECT * FROM pg_extension WHERE extname = 'pg_eventhooks'),
     ns AS (SELECT * FROM pg_namespace WHERE nspname = 'eventhooks'),
     rel AS (SELECT c.* FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM ns)),
     lines(line) AS (
  SELECT format('extension %s schema %s relocatable %s', extname, extnamespace::regnamespace,
                extrelocatable) FROM ext
  UNION ALL
  SELECT format('extension config %s where %s', t.c::regclass, t.cond)
  FROM ext, unnest(ext.extconfig, ext.extcondition) AS t(c, cond)
  UNION ALL
  SELECT format('schema %s owner %s acl %s', nspname, nspowner::regrole, nspacl) FROM ns
  UNION ALL
  SELECT format('member %s comment %s', pg_describe_object(d.classid, d.objid, d.objsubid),
                coalesce(obj_description(d.objid, d.classid::regclass::name), '-'))
  FROM pg_depend d
  WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM ext)
    AND d.deptype = 'e'
  UNION ALL
  SELECT format('function %s returns %s language %s volatile %s strict %s secdef %s leakproof %s '
                'parallel %s config %s acl %s def %s', p.oid::regprocedure,
                pg_get_function_result(p.oid), l.lanname, p.provolatile, p.proisstrict,
                p.prosecdef, p.proleakproof, p.proparallel, p.proconfig, p.proacl,
                md5(pg_get_functiondef(p.oid)))
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  WHERE p.pronamespace = (SELECT oid FROM ns) AND p.prokind IN ('f', 'p')
  UNION ALL
  SELECT format('function %s kind %s', p.oid::regprocedure, p.prokind)
  FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM ns) AND p.prokind NOT IN ('f', 'p')
  UNION ALL
  SELECT format('relation %s kind %s persistence %s rls %s force %s options %s acl %s',
                oid::regclass, relkind, relpersistence, relrowsecurity, relforcerowsecurity,
                reloptions, relacl)
  FROM rel
  UNION ALL
  SELECT format('column %s.%s %s notnull %s default %s identity %s generated %s collation %s',
                a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity,
                a.attgenerated, a.attcollation)
  FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT format('constraint %s on %s: %s', co.conname, co.conrelid::regclass,
                pg_get_constraintdef(co.oid))
  FROM pg_constraint co WHERE co.connamespace = (SELECT oid FROM ns)
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid))
  FROM pg_index i JOIN rel ON rel.oid = i.indrelid
  UNION ALL
  SELECT format('trigger %s enabled %s', pg_get_triggerdef(t.oid), t.tgenabled)
  FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL
  SELECT format('policy %s on %s cmd %s permissive %s roles %s using %s check %s', po.polname,
                po.polrelid::regclass, po.polcmd, po.polpermissive, po.polroles::regrole[],
                pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
  FROM pg_policy po JOIN rel ON rel.oid = po.polrelid
  UNION ALL
  SELECT format('view %s: %s', oid::regclass, pg_get_viewdef(oid)) FROM rel WHERE relkind IN ('v', 'm')
  UNION ALL
  SELECT format('type %s kind %s labels %s', ty.oid::regtype, ty.typtype,
                (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                 FROM pg_enum e WHERE e.enumtypid = ty.oid))
  FROM pg_type ty WHERE ty.typnamespace = (SELECT oid FROM ns)
  UNION ALL
  SELECT format('event trigger %s on %s calls %s enabled %s tags %s', evtname, evtevent,
                evtfoid::regprocedure, evtenabled, evttags)
  FROM pg_event_trigger)
SELECT regexp_replace(line, '\s+', ' ', 'g') FROM lines ORDER BY 1};

sub catalog_listing
{
	my ($db) = @_;
	return [ split /\n/, $node->safe_psql($db, $catalog_sql) ];
}

# Lines in one listing and not in the other, for the failure message.
sub listing_diff
{
	my ($a, $b) = @_;
	my %in_b = map { $_ => 1 } @$b;
	my %in_a = map { $_ => 1 } @$a;
	return join("\n", (map { "- $_" } grep { !$in_b{$_} } @$a),
		(map { "+ $_" } grep { !$in_a{$_} } @$b));
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_eventhooks');
my $fresh = catalog_listing('fresh');
cmp_ok(scalar @$fresh, '>', 50, 'the listing of a fresh install has its objects');
ok(scalar(grep { /^relation eventhooks\.event_log / } @$fresh)
	  && scalar(grep { /^member function eventhooks\.metadata\(jsonb\)/ } @$fresh),
	'(the listing sees tables and the functions of the new version)');

my @older = split /\n/, $node->safe_psql('postgres', qq{
	SELECT version FROM pg_available_extension_versions
	WHERE name = 'pg_eventhooks' AND version <> '$default_version' ORDER BY version});
ok(scalar(grep { $_ eq '0.1.0' } @older), 'the released 0.1.0 can still be installed');
for my $version (@older)
{
	(my $db = "from_$version") =~ s/\W/_/g;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	$node->safe_psql($db, qq{CREATE EXTENSION pg_eventhooks VERSION '$version'});
	$node->safe_psql($db, 'ALTER EXTENSION pg_eventhooks UPDATE');
	my $updated = catalog_listing($db);
	is_deeply($updated, $fresh, "a database updated from $version has the schema of a fresh install")
	  or diag(listing_diff($updated, $fresh));
}
my $main = catalog_listing('postgres');
is_deeply($main, $fresh, 'so has the database updated under load')
  or diag(listing_diff($main, $fresh));

# create_cron_trigger gets a new argument list in 0.2.0 (a new function): the grants a DBA made
# on the old one carry over (EXECUTE revoked from PUBLIC stays revoked).
$node->safe_psql('postgres', q{CREATE DATABASE grants_kept});
$node->safe_psql('grants_kept', q{
	CREATE EXTENSION pg_eventhooks VERSION '0.1.0';
	CREATE ROLE cron_admin; CREATE ROLE someone_else;
	REVOKE EXECUTE ON FUNCTION eventhooks.create_cron_trigger FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION eventhooks.create_cron_trigger TO cron_admin;
	ALTER EXTENSION pg_eventhooks UPDATE;
});
is($node->safe_psql('grants_kept', q{
	SELECT has_function_privilege(r, 'eventhooks.create_cron_trigger(text, text, text, jsonb,
		jsonb, jsonb, text, boolean, jsonb, boolean)', 'EXECUTE')
	FROM unnest(ARRAY['cron_admin', 'someone_else']) r}), "t\nf",
	'the update keeps create_cron_trigger\'s grants: cron_admin may run it, PUBLIC may not');
$node->safe_psql('grants_kept', q{DROP EXTENSION pg_eventhooks});
$node->safe_psql('postgres', q{DROP DATABASE grants_kept; DROP ROLE cron_admin, someone_else});

# The comparison can fail: an index, a changed default, a missing grant are each seen.
my $changed = [ split /\n/, $node->safe_psql('fresh', qq{
	BEGIN;
	CREATE INDEX event_log_by_trigger ON eventhooks.event_log (trigger_name);
	ALTER TABLE eventhooks.event_triggers ALTER COLUMN headers SET DEFAULT '{}';
	REVOKE SELECT ON eventhooks.worker_status FROM pg_monitor;
	$catalog_sql;
	ROLLBACK;}) ];
my $seen = listing_diff($fresh, $changed);
ok($seen =~ /^\+ index CREATE INDEX event_log_by_trigger ON eventhooks\.event_log /m
	  && $seen =~ /^\+ column eventhooks\.event_triggers\.headers .* default '\{\}'/m
	  && $seen =~ /^- relation eventhooks\.worker_status .*pg_monitor=r/m,
	'the listing notices an extra index, a changed default and a missing grant')
  or diag($seen);

# --- (d) a dump of a 0.1.0 database restores into the new version ---------------------------------
#
# The dump says CREATE EXTENSION without a version: the restore makes the default version and
# loads 0.1.0's configuration and pending events into its tables.

$recv->clear;
$node->safe_psql('postgres', 'CREATE DATABASE restored_010');
my $psql_err = '';
ok(IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored_010'),
			'-f', $dump_010 ], '>', \my $psql_out, '2>', \$psql_err),
	'the dump of the 0.1.0 database restores into a new database');
is(join("\n", grep { /ERROR|WARNING/ } split /\n/, $psql_err), '', 'with no ERROR or WARNING')
  or diag($psql_err);
is($node->safe_psql('restored_010',
		q{SELECT extversion FROM pg_extension WHERE extname = 'pg_eventhooks'}),
	$default_version, "the restored database has $default_version");
is($node->safe_psql('restored_010', $definitions_sql), $definitions_010,
	'and the event trigger of the 0.1.0 database');
is(poll_sql($node, q{SELECT count(*) FILTER (WHERE delivered) || '/' || count(*)
	FROM eventhooks.event_log}, '7/7', 30, 'restored_010'), '7/7',
	'its pending events (those of the dump) are delivered');
is(join(',', sort(event_ids_received($recv, path => '/orders'))), join(',', sort @pending_010),
	'each once');
my $catalog_restored = catalog_listing('restored_010');
is_deeply($catalog_restored, $fresh, 'and its schema is that of a fresh install')
  or diag(listing_diff($catalog_restored, $fresh));

$node->stop;
done_testing();
