# Exponential backoff (retry_conf "backoff": "exponential", "max_interval_sec"; SPEC §7,
# src/core/retry_policy.cpp) seen from the receiver: the wait doubles from interval_sec up to
# the cap, with up to 10% jitter, and a Retry-After from the receiver wins over it.
# The gaps are the receiver's arrival times of consecutive attempts. Each must lie within
# [base, base * 1.1 + margin]: the base is counted from when the worker recorded the failed
# attempt (after the receiver's answer), so a gap is never shorter; the margin covers the
# worker's recording and wake-up.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;

my $margin = 0.6;
my $recv = start_receiver(quiet => 1);
# The fallback poll far above the intervals: retries must be woken for by their due time.
my $node = new_eventhooks_node('backoff', conf => ["eventhooks.poll_interval = '60s'"]);

sub sq { return $node->safe_psql('postgres', $_[0]); }

# Differences between consecutive received_at of $path's requests.
sub gaps
{
	my ($path) = @_;
	my @t = map { $_->{received_at} } @{ $recv->requests(path => $path) };
	return map { $t[$_] - $t[ $_ - 1 ] } 1 .. $#t;
}

sub check_gaps
{
	my ($path, $bases, $name) = @_;
	my @g = gaps($path);
	is(scalar(@g), scalar(@$bases), "$name: " . scalar(@$bases) . ' gaps');
	for my $i (0 .. $#$bases)
	{
		my ($base, $gap) = ($bases->[$i], $g[$i] // -1);
		ok($gap >= $base - 0.05 && $gap <= $base * 1.1 + $margin,
			sprintf('%s: gap %d is %.2f s, within [%d, %.2f]', $name, $i + 1, $gap, $base,
				$base * 1.1 + $margin));
	}
}

sq('CREATE EXTENSION pg_eventhooks');
ok(defined wait_for_delivery_worker($node, 10), 'delivery worker running');
sq('CREATE TABLE t (id int PRIMARY KEY)');

# --- 500 five times: attempts 1 s, 2 s, 3 s (capped), 3 s apart, then the event fails. ---
$recv->set_rule('/exp', status => 500);
sq(qq{SELECT eventhooks.create_event_trigger(name => 'exp', table_name => 't',
        webhook => '@{[ $recv->url('/exp') ]}', on_insert => '{}',
        retry_conf => '{"num_retries": 4, "interval_sec": 1, "backoff": "exponential",
                        "max_interval_sec": 3}')});
sq('INSERT INTO t VALUES (1)');
ok($recv->wait_for_count(5, path => '/exp', timeout => 20), 'five attempts');
is(poll_sql($node, q{SELECT error || '/' || tries FROM eventhooks.event_log
                     WHERE trigger_name = 'exp'}, 'true/5'), 'true/5',
	'the event failed after 1 + 4 attempts');
check_gaps('/exp', [ 1, 2, 3, 3 ], 'exponential, capped at 3 s');
sq(q{SELECT eventhooks.delete_event_trigger('exp')});

# --- Retry-After wins: 503 with Retry-After: 1 against a backoff starting at 3 s. ---
$recv->set_rule('/ra', fail_first => 2, fail_status => 503, retry_after => '1', status => 200);
sq(qq{SELECT eventhooks.create_event_trigger(name => 'ra', table_name => 't',
        webhook => '@{[ $recv->url('/ra') ]}', on_insert => '{}',
        retry_conf => '{"num_retries": 3, "interval_sec": 3, "backoff": "exponential",
                        "max_interval_sec": 10}')});
sq('INSERT INTO t VALUES (2)');
ok($recv->wait_for_count(3, path => '/ra', timeout => 10), 'three attempts');
is(poll_sql($node, q{SELECT delivered || '/' || tries FROM eventhooks.event_log
                     WHERE trigger_name = 'ra'}, 'true/3'), 'true/3',
	'delivered at the third attempt');
my @g = gaps('/ra');
ok(@g == 2 && $g[0] >= 0.95 && $g[0] < 1 + $margin && $g[1] >= 0.95 && $g[1] < 1 + $margin,
	sprintf('Retry-After: 1 s gaps, not the 3 s and 6 s of the backoff (%s)',
		join(', ', map { sprintf('%.2f', $_) } @g)));

$node->stop;
done_testing();
