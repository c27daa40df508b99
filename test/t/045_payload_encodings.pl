# Row values in databases whose encoding is not UTF8 (issue 16, item 4): a json value with a
# \u escape of a character the database's encoding lacks is valid json, but jsonb refuses it
# ("conversion between UTF8 and SQL_ASCII is not supported", "character ... has no
# equivalent in encoding LATIN1"). The user's write must still succeed and the event be
# recorded, with such an escape kept as its six characters of text; an escape the encoding
# can hold is decoded as row_to_json(...)::jsonb decodes it.
#
#   SKIP_BUILD=1 bash scripts/test.sh tap test/t/045_payload_encodings.pl

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;

# The cluster's databases are SQL_ASCII (template1, postgres); one more is LATIN1.
my $node = new_eventhooks_node('encodings',
	init => { extra => [ '--encoding=SQL_ASCII', '--locale=C' ] });
$node->safe_psql('postgres',
	"CREATE DATABASE latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");

my $json = q('{"e": "\u00e9", "han": "\u4e00", "pair": "\ud83d\ude00", "a": "\u0041"}');

for my $db ('postgres', 'latin1')
{
	is($node->safe_psql($db, 'SHOW server_encoding'),
		$db eq 'postgres' ? 'SQL_ASCII' : 'LATIN1', "$db: encoding");
	$node->safe_psql($db, q(
		SET client_min_messages = warning;
		CREATE EXTENSION pg_eventhooks;
		CREATE TABLE docs (id int, j json);
		SELECT eventhooks.create_event_trigger('docs', 'docs', 'http://127.0.0.1:9/docs',
		    on_insert => '{}');));
	my ($rc, $out, $err) =
	  $node->psql($db, "INSERT INTO docs VALUES (1, $json)");
	is($rc, 0, "$db: INSERT of json with escapes the encoding lacks succeeds")
	  or diag($err);
	# ASCII-only output, whatever the client's encoding.
	my $got = $node->safe_psql($db, q(
		SELECT j->>'a', j->>'han', j->>'pair', j->>'e' = chr(233), j->>'e'
		FROM (SELECT payload->'data'->'new'->'j' AS j FROM eventhooks.event_log
		      WHERE trigger_name = 'docs') e));
	if ($db eq 'postgres')
	{
		# SQL_ASCII has no conversion from UTF8: every escape above U+007F stays text.
		is($got, 'A|\u4e00|\ud83d\ude00|f|\u00e9', "$db: payload values");
	}
	else
	{
		# LATIN1 has é, not 一 nor 😀 (both halves of the pair stay text).
		like($got, qr/^A\|\\u4e00\|\\ud83d\\ude00\|t\|/, "$db: payload values");
	}
	is( $node->safe_psql($db,
			"SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'docs'"),
		'1',
		"$db: one event recorded");
}

$node->stop;
done_testing();
