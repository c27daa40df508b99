# Prometheus (SPEC §7, issue 20): Debian's prometheus-postgres-exporter run with
# prometheus/eventhooks_queries.yaml against a test cluster exposes trigger_stats and
# worker_status as eventhooks_* metrics on its /metrics page, with the numbers the views hold;
# a non-superuser's exporter shows only the triggers that role may see.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventhooksTest;
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Run ();
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use Time::HiRes qw(time usleep);

my $exporter = '/usr/bin/prometheus-postgres-exporter';
BAIL_OUT("$exporter is missing: scripts/install-deps.sh installs it") unless -x $exporter;
my $queries = abs_path(dirname(__FILE__) . '/../../prometheus/eventhooks_queries.yaml');
ok(-r $queries, "queries file $queries exists");

my $recv = start_receiver(quiet => 1);
$recv->set_rule('/fail', status => 500);
my $node = new_eventhooks_node('prometheus');
sub sq { return $node->safe_psql('postgres', $_[0]); }

sq(qq{
CREATE EXTENSION pg_eventhooks;
CREATE ROLE alice LOGIN IN ROLE pg_monitor;
CREATE TABLE orders (id int PRIMARY KEY);
CREATE TABLE broken (id int PRIMARY KEY);
CREATE TABLE alice_items (id int PRIMARY KEY);
ALTER TABLE alice_items OWNER TO alice;
SELECT eventhooks.create_event_trigger('orders_hook', 'orders', '@{[ $recv->url('/ok') ]}',
    on_insert => '{"columns": "*"}');
SELECT eventhooks.create_event_trigger('broken_hook', 'broken', '@{[ $recv->url('/fail') ]}',
    on_insert => '{"columns": "*"}', retry_conf => '{"num_retries": 0}');
SET ROLE alice;
SELECT eventhooks.create_event_trigger('alice_hook', 'alice_items', '@{[ $recv->url('/ok') ]}',
    on_insert => '{"columns": "*"}');
RESET ROLE;
INSERT INTO orders SELECT generate_series(1, 5);
INSERT INTO broken SELECT generate_series(1, 2);
INSERT INTO alice_items VALUES (1);
});
ok($recv->wait_for_count(8, timeout => 30), 'the worker sent all 8 events');
is( poll_sql($node,
		q{SELECT delivered_1h || '/' || dead FROM eventhooks.trigger_stats
		  WHERE trigger_name = 'orders_hook'}, '5/0', 20),
	'5/0', 'trigger_stats counts the 5 deliveries (the worker wrote its figures)');
is(poll_sql($node, q{SELECT dead FROM eventhooks.trigger_stats WHERE trigger_name = 'broken_hook'},
		'2', 20), '2', 'trigger_stats counts 2 dead events of broken_hook');

# A free port on 127.0.0.1 for the exporter (bound and released: the exporter binds it next).
sub free_port
{
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
	  or die "no port: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

# Starts the exporter as $user; returns (harness, port).
sub start_exporter
{
	my ($user) = @_;
	my $port = free_port();
	local $ENV{DATA_SOURCE_NAME} =
	  sprintf('host=%s port=%d user=%s dbname=postgres sslmode=disable',
		$node->host, $node->port, $user);
	# Its log to a file (IPC::Run fills a scalar only when pumped): shown when a check fails.
	my $log = "${PostgreSQL::Test::Utils::tmp_check}/exporter_$user.log";
	my $h = IPC::Run::start(
		[ $exporter, "--web.listen-address=127.0.0.1:$port", "--extend.query-path=$queries",
		  '--disable-default-metrics', '--disable-settings-metrics' ],
		'<', \undef, '>', $log, '2>&1');
	return ($h, $port, $log);
}

my $http = HTTP::Tiny->new(timeout => 10, proxy => undef, http_proxy => undef);

# /metrics of the exporter on $port, polled until it matches $want (a qr//) or 20 s pass.
sub scrape
{
	my ($port, $want) = @_;
	my $deadline = time() + 20;
	my $body = '';
	while (time() < $deadline)
	{
		my $res = $http->get("http://127.0.0.1:$port/metrics");
		$body = $res->{content} // '' if $res->{success};
		return $body if $body =~ $want;
		usleep(200_000);
	}
	return $body;
}

# The value of one sample: metric name and labels as they appear (label order is the
# exporter's: sorted by name).
sub sample
{
	my ($body, $metric, %labels) = @_;
	for my $line (split /\n/, $body)
	{
		next unless $line =~ /^\Q$metric\E\{([^}]*)\} (\S+)$/;
		my ($labeltext, $value) = ($1, $2);
		my %have = $labeltext =~ /(\w+)="([^"]*)"/g;
		next if grep { ($have{$_} // '') ne $labels{$_} } keys %labels;
		return $value;
	}
	return undef;
}

my ($h, $port, $err) = start_exporter($node->safe_psql('postgres', 'SELECT current_user'));
my $body = scrape($port, qr/eventhooks_trigger_delivered_1h\{[^}]*orders_hook/);
like($body, qr/^eventhooks_trigger_pending\{/m, 'the exporter shows eventhooks_trigger_* metrics')
  or diag("exporter log: " . slurp_file($err));
is(sample($body, 'eventhooks_trigger_delivered_1h', trigger_name => 'orders_hook',
		database => 'postgres'), '5', 'delivered_1h of orders_hook is 5');
is(sample($body, 'eventhooks_trigger_dead', trigger_name => 'broken_hook'), '2',
	'dead of broken_hook is 2');
is(sample($body, 'eventhooks_trigger_failed_1h', trigger_name => 'broken_hook'), '2',
	'failed_1h of broken_hook is 2');
is(sample($body, 'eventhooks_trigger_pending', trigger_name => 'orders_hook'), '0',
	'nothing pending for orders_hook');
is(sample($body, 'eventhooks_trigger_paused', trigger_name => 'orders_hook'), '0',
	'orders_hook is not paused');
my $p50 = sample($body, 'eventhooks_trigger_latency_p50_seconds', trigger_name => 'orders_hook');
my $p99 = sample($body, 'eventhooks_trigger_latency_p99_seconds', trigger_name => 'orders_hook');
ok(defined $p50 && $p50 > 0 && $p50 < 60, "a p50 latency in seconds ($p50)");
ok(defined $p99 && $p99 >= $p50, "p99 ($p99) >= p50");
ok(sample($body, 'eventhooks_trigger_last_error_timestamp_seconds', trigger_name => 'broken_hook')
	  > time() - 3600, 'last_error time of broken_hook is recent');
is(sample($body, 'eventhooks_worker_up', database => 'postgres'), '1', 'the worker is up');
ok(defined sample($body, 'eventhooks_worker_state_current', database => 'postgres'),
	'the worker state is a series of its own');
unlike($body, qr/^eventhooks_worker_events_sent\{[^}]*state=/m,
	'the counters carry no state label (a state change must not start new series)');
ok(sample($body, 'eventhooks_worker_events_sent', database => 'postgres') >= 6,
	'events_sent counts the deliveries');
ok(sample($body, 'eventhooks_worker_started_timestamp_seconds', database => 'postgres')
	  > time() - 3600, 'worker started_at is exported');
ok(defined sample($body, 'eventhooks_worker_connections_open', database => 'postgres'),
	'connections_open is exported');
is(sample($body, 'pg_exporter_user_queries_load_error', filename => $queries), '0',
	'the exporter loaded the queries file without error');
unlike($body, qr/^pg_exporter_last_scrape_error 1/m, 'the last scrape had no error');

# Live figures: more events, the metric follows.
sq('INSERT INTO orders SELECT generate_series(6, 8)');
$body = scrape($port, qr/eventhooks_trigger_delivered_1h\{[^}]*orders_hook[^}]*\} 8/);
is(sample($body, 'eventhooks_trigger_delivered_1h', trigger_name => 'orders_hook'), '8',
	'delivered_1h follows new deliveries (8)');
$h->kill_kill;

# A non-superuser (pg_monitor member owning alice_items) sees its trigger only.
($h, $port, $err) = start_exporter('alice');
$body = scrape($port, qr/eventhooks_trigger_delivered_1h\{[^}]*alice_hook/);
is(sample($body, 'eventhooks_trigger_delivered_1h', trigger_name => 'alice_hook'), '1',
	"alice's exporter shows alice_hook") or diag("exporter log: " . slurp_file($err));
is(sample($body, 'eventhooks_trigger_delivered_1h', trigger_name => 'orders_hook'), undef,
	"alice's exporter does not show orders_hook");
is(sample($body, 'eventhooks_worker_up', database => 'postgres'), '1',
	'pg_monitor reads worker_status');
$h->kill_kill;

$node->stop;
done_testing();
