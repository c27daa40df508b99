
=pod

=head1 NAME

EventhooksTest - helpers for pg_eventhooks TAP tests

=head1 SYNOPSIS

  use PostgreSQL::Test::Cluster;   # only if the test needs a server
  use PostgreSQL::Test::Utils;
  use Test::More;
  use EventhooksTest;

  my $recv = start_receiver();
  $recv->set_rule('/hook', status => 503, retry_after => '1', fail_first => 2);

  my $node = new_eventhooks_node('main', conf => ["eventhooks.poll_interval = '200ms'"]);
  $node->safe_psql('postgres', 'CREATE EXTENSION pg_eventhooks');
  ...
  ok($recv->wait_for_count(3, path => '/hook'), 'three attempts');
  my @ids = event_ids_received($recv, path => '/hook');

=head1 DESCRIPTION

start_receiver() runs test/receiver/receiver.py (a real HTTP/1.1 server on
127.0.0.1) as a child process and talks to its /_control API over HTTP.

new_eventhooks_node() needs PostgreSQL::Test::Cluster, which the test script
must load itself with C<use> (its INIT blocks must run at compile time, so
this module cannot load it on demand).  This module never loads it, so
receiver-only tests run without PostgreSQL::Test::* in @INC.

=cut

package EventhooksTest;

use strict;
use warnings;

use Carp;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use Cwd qw(abs_path);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(usleep time);

our @EXPORT = qw(start_receiver event_ids_received new_eventhooks_node poll_sql
  delivery_worker_pid wait_for_delivery_worker wait_for_log poll_queue_counts);

my $RECEIVER_PY =
  File::Spec->catfile(dirname(abs_path(__FILE__)), '..', 'receiver', 'receiver.py');

our $JSON = JSON::PP->new->utf8->canonical;

# Receivers started by this process, stopped in END (weak refs).
my @live_receivers;

sub _tempdir
{
	my ($prefix) = @_;
	# PostgreSQL::Test::Utils::tempdir lives under tmp_check and is kept when
	# a test fails; usable only if Utils was loaded normally (INIT ran).
	if (defined &PostgreSQL::Test::Utils::tempdir
		&& defined $PostgreSQL::Test::Utils::tmp_check)
	{
		return PostgreSQL::Test::Utils::tempdir($prefix);
	}
	return File::Temp::tempdir(
		"${prefix}_XXXX",
		TMPDIR  => 1,
		CLEANUP => !defined $ENV{PG_TEST_NOCLEAN});
}

=pod

=head1 FUNCTIONS

=over

=item start_receiver(%opts)

Start receiver.py and wait (up to C<startup_timeout>, default 10 s) until it
has written its port file.  Options:

  port            => 0         port on 127.0.0.1 (0 = any free port)
  dir             => tempdir   where port file, request log, stderr go
  log             => "$dir/requests.jsonl"   JSON-lines request log
  quiet           => 0         pass --quiet (no per-request line on stderr)
  python          => $ENV{PYTHON} || 'python3'
  startup_timeout => 10
  args            => []        more receiver.py arguments (e.g. --tls-cert, --tls-key)

Returns an EventhooksTest::Receiver object.  Dies if the receiver does not
come up.

=cut

sub start_receiver
{
	my (%opts) = @_;
	my $dir = $opts{dir} // _tempdir('receiver');
	my $port_file = File::Spec->catfile($dir, 'receiver.port');
	my $log = $opts{log} // File::Spec->catfile($dir, 'requests.jsonl');
	my $stderr = File::Spec->catfile($dir, 'receiver.stderr');
	my $python = $opts{python} // $ENV{PYTHON} // 'python3';
	my $startup_timeout = $opts{startup_timeout} // 10;

	unlink $port_file;
	my @cmd = (
		$python, $RECEIVER_PY,
		'--port', $opts{port} // 0,
		'--port-file', $port_file, '--log', $log,
		'--watch-pid', $$);
	push @cmd, '--quiet' if $opts{quiet};
	push @cmd, @{ $opts{args} } if $opts{args};

	my $pid = fork();
	croak "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		# Child: plain fds (the parent's STDOUT/STDERR may be tied/redirected
		# by PostgreSQL::Test::Utils), then exec; never run END blocks.
		eval {
			open(my $in, '<', '/dev/null') or die;
			open(my $err, '>>', $stderr) or die;
			POSIX::dup2(fileno($in), 0);
			POSIX::dup2(fileno($err), 1);
			POSIX::dup2(fileno($err), 2);
			exec { $cmd[0] } @cmd;
		};
		POSIX::_exit(127);
	}

	my $self = bless {
		pid       => $pid,
		owner     => $$,
		dir       => $dir,
		port_file => $port_file,
		log_file  => $log,
		stderr    => $stderr,
		http      => HTTP::Tiny->new(
			timeout    => 30,
			keep_alive => 1,
			proxy      => undef,
			http_proxy => undef,
			agent      => 'EventhooksTest/1'),
	  },
	  'EventhooksTest::Receiver';

	my $deadline = time() + $startup_timeout;
	while (1)
	{
		if (-s $port_file)
		{
			open(my $fh, '<', $port_file) or croak "open $port_file: $!";
			my $line = <$fh>;
			close $fh;
			if (defined $line && $line =~ /^(\d+)\s*$/ && $1 > 0)
			{
				$self->{port} = $1;
				last;
			}
		}
		if (!$self->_alive)
		{
			my $msg = $self->_stderr_tail;
			croak "receiver.py exited during startup (status $self->{exit_status}): $msg";
		}
		if (time() > $deadline)
		{
			$self->stop;
			croak "receiver.py did not write $port_file within ${startup_timeout}s: "
			  . $self->_stderr_tail;
		}
		usleep(50_000);
	}

	push @live_receivers, $self;
	weaken($live_receivers[-1]);
	return $self;
}

=pod

=item event_ids_received($receiver, path => $path)

The C<id> field of each recorded request body that is a JSON object with an
id, in order of receipt (duplicates included, so at-least-once tests can
check both completeness and duplication).  C<path> is optional.

=cut

sub event_ids_received
{
	my ($recv, %opts) = @_;
	my @ids;
	for my $r (@{ $recv->requests(%opts) })
	{
		my $body = eval { JSON::PP->new->decode($r->{body}) };
		next unless ref $body eq 'HASH' && defined $body->{id};
		push @ids, $body->{id};
	}
	return @ids;
}

=pod

=item new_eventhooks_node($name, %opts)

A PostgreSQL::Test::Cluster node: init'ed, with
C<shared_preload_libraries = 'pg_eventhooks'> appended to postgresql.conf,
plus C<conf> lines, then started.  Does not CREATE EXTENSION.  Options:

  preload => 1        0 = do not add shared_preload_libraries
  conf    => [...]    extra postgresql.conf lines (arrayref or one string)
  init    => {...}    extra arguments for $node->init (e.g. allows_streaming)
  start   => 1        0 = leave it stopped

The test script must C<use PostgreSQL::Test::Cluster;> itself.

=cut

# poll_sql($node, $sql, $expected, $timeout = 20, $dbname = 'postgres'): runs $sql every
# 100 ms until its result equals $expected (or matches it, when $expected is a qr//) or the
# timeout passes. Returns the last result, so that a failing is() shows what was seen.
sub poll_sql
{
	my ($node, $sql, $expected, $timeout, $dbname) = @_;
	my $deadline = time() + ($timeout // 20);
	my $last;
	while (1)
	{
		$last = $node->safe_psql($dbname // 'postgres', $sql);
		return $last if ref $expected ? $last =~ $expected : $last eq $expected;
		return $last if time() > $deadline;
		select(undef, undef, undef, 0.1);
	}
}

# poll_queue_counts($node, $expected, $timeout = 5): worker_status's "events_pending/events_due"
# of the current database, polled until it equals $expected (see poll_sql); returns the last.
sub poll_queue_counts
{
	my ($node, $expected, $timeout) = @_;
	return poll_sql($node,
		q{SELECT events_pending || '/' || events_due FROM eventhooks.worker_status
		  WHERE database_name = current_database()}, $expected, $timeout // 5);
}

# delivery_worker_pid($node, $dbname = 'postgres'): the pid of the database's delivery worker,
# undef when none runs (or the server does not answer, e.g. during crash recovery).
sub delivery_worker_pid
{
	my ($node, $dbname) = @_;
	$dbname //= 'postgres';
	my ($rc, $out) = $node->psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_eventhooks delivery' "
		  . "AND datname = '$dbname'");
	return $rc == 0 && defined $out && $out =~ /^(\d+)$/ ? $1 : undef;
}

# wait_for_delivery_worker($node, $timeout, $not_pid, $dbname = 'postgres'): waits until a
# delivery worker (other than $not_pid) runs; returns its pid, undef on timeout.
sub wait_for_delivery_worker
{
	my ($node, $timeout, $not_pid, $dbname) = @_;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		my $pid = delivery_worker_pid($node, $dbname);
		return $pid if defined $pid && (!defined $not_pid || $pid != $not_pid);
		usleep(100_000);
	}
	return undef;
}

# wait_for_log($node, $regex, $timeout = 20, $offset = 0): waits until the server log, from byte
# $offset on, matches $regex; returns the first matching line, undef on timeout.
sub wait_for_log
{
	my ($node, $regex, $timeout, $offset) = @_;
	my $deadline = time() + ($timeout // 20);
	while (1)
	{
		open(my $fh, '<', $node->logfile) or croak 'open ' . $node->logfile . ": $!";
		seek($fh, $offset // 0, 0);
		while (my $line = <$fh>)
		{
			if ($line =~ $regex)
			{
				close $fh;
				chomp $line;
				return $line;
			}
		}
		close $fh;
		return undef if time() > $deadline;
		usleep(100_000);
	}
}

sub new_eventhooks_node
{
	my ($name, %opts) = @_;
	croak "new_eventhooks_node needs 'use PostgreSQL::Test::Cluster;' in the test script"
	  unless defined &PostgreSQL::Test::Cluster::new
	  && defined $PostgreSQL::Test::Utils::tmp_check;

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });

	my @conf;
	push @conf, "shared_preload_libraries = 'pg_eventhooks'"
	  if $opts{preload} // 1;
	if (defined $opts{conf})
	{
		push @conf, ref $opts{conf} eq 'ARRAY' ? @{ $opts{conf} } : $opts{conf};
	}
	$node->append_conf('postgresql.conf',
		join('', "\n# Added by EventhooksTest.pm\n", map { "$_\n" } @conf))
	  if @conf;

	$node->start if $opts{start} // 1;
	return $node;
}

END
{
	local $?;
	for my $r (@live_receivers)
	{
		$r->stop if defined $r && $r->{owner} == $$;
	}
}

=pod

=back

=head1 RECEIVER METHODS

  $r->port                 TCP port on 127.0.0.1
  $r->url($path)           "http://127.0.0.1:PORT$path"
  $r->set_rule($path, status => 503, delay_ms => 0, retry_after => '2',
               fail_first => 0, fail_status => 500, body => '...', drop => 0)
                           (replaces the path's rule, resets its fail_first count)
  $r->clear_rules
  $r->requests(path => $p) arrayref of recorded requests (hashrefs: seq, method,
                           path, headers {lc name => value}, body, received_at,
                           status, dropped); path optional
  $r->count(path => $p)    number recorded (path optional)
  $r->clear                forget recorded requests
  $r->wait_for_count($n, timeout => 30, path => undef)
                           poll every 50 ms until count >= $n; 1 or 0
  $r->stop                 SIGTERM (SIGKILL after 10 s); returns exit status
  $r->pid, $r->log_file, $r->stderr_file, $r->dir, $r->alive

=cut

package EventhooksTest::Receiver;

use strict;
use warnings;
use Carp;
use POSIX qw(WNOHANG);
use Time::HiRes qw(usleep time);

sub port        { $_[0]->{port} }
sub pid         { $_[0]->{pid} }
sub dir         { $_[0]->{dir} }
sub log_file    { $_[0]->{log_file} }
sub stderr_file { $_[0]->{stderr} }
sub url         { my ($self, $path) = @_; "http://127.0.0.1:$self->{port}" . ($path // '') }
sub alive       { $_[0]->_alive }

sub _alive
{
	my ($self) = @_;
	return 0 if defined $self->{exit_status};
	return 0 if $self->{owner} != $$;
	local $?;
	my $r = waitpid($self->{pid}, WNOHANG);
	if ($r == $self->{pid} || $r == -1)
	{
		$self->{exit_status} = $r == -1 ? -1 : $?;
		return 0;
	}
	return 1;
}

sub _stderr_tail
{
	my ($self) = @_;
	open(my $fh, '<', $self->{stderr}) or return '(no stderr)';
	local $/;
	my $s = <$fh> // '';
	return length($s) > 2000 ? substr($s, -2000) : $s;
}

sub _call
{
	my ($self, $method, $path, $body) = @_;
	my %o;
	if (defined $body)
	{
		$o{content} = $EventhooksTest::JSON->encode($body);
		$o{headers} = { 'Content-Type' => 'application/json' };
	}
	my $res = $self->{http}->request($method, $self->url($path), \%o);
	croak "receiver $method $path failed: $res->{status} $res->{reason} "
	  . ($res->{content} // '')
	  unless $res->{success};
	return $EventhooksTest::JSON->decode($res->{content});
}

sub _q
{
	my ($path) = @_;
	return '' unless defined $path;
	(my $e = $path) =~ s/([^A-Za-z0-9\-._~\/])/sprintf('%%%02X', ord $1)/ge;
	return "?path=$e";
}

sub health { $_[0]->_call('GET', '/_control/health')->{ok} }

sub set_rule
{
	my ($self, $path, %rule) = @_;
	$rule{drop} = $rule{drop} ? JSON::PP::true : JSON::PP::false
	  if exists $rule{drop};
	return $self->_call('POST', '/_control/rules', { %rule, path => $path });
}

sub clear_rules { $_[0]->_call('DELETE', '/_control/rules'); return }
sub rules       { $_[0]->_call('GET',    '/_control/rules') }
sub clear       { $_[0]->_call('DELETE', '/_control/requests'); return }

sub requests
{
	my ($self, %opts) = @_;
	return $self->_call('GET', '/_control/requests' . _q($opts{path}));
}

sub count
{
	my ($self, %opts) = @_;
	return $self->_call('GET', '/_control/count' . _q($opts{path}))->{count};
}

sub wait_for_count
{
	my ($self, $n, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 30);
	while (1)
	{
		return 1 if $self->count(path => $opts{path}) >= $n;
		return 0 if time() > $deadline;
		usleep(50_000);
	}
}

sub stop
{
	my ($self) = @_;
	return $self->{exit_status} unless $self->_alive;
	local $?;
	kill 'TERM', $self->{pid};
	my $deadline = time() + 10;
	while (time() < $deadline)
	{
		my $r = waitpid($self->{pid}, WNOHANG);
		if ($r == $self->{pid} || $r == -1)
		{
			$self->{exit_status} = $r == -1 ? -1 : $?;
			return $self->{exit_status};
		}
		usleep(20_000);
	}
	kill 'KILL', $self->{pid};
	waitpid($self->{pid}, 0);
	$self->{exit_status} = $?;
	return $self->{exit_status};
}

sub DESTROY
{
	my ($self) = @_;
	local ($?, $!, $@);
	$self->stop if $self->{pid} && $self->{owner} == $$;
}

1;
