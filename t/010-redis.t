#!/usr/bin/perl

# The Redis layer: shared pipelined connections, fail-fast while Redis is
# down and recovery without a reload, command deadlines against a Redis that
# never answers, protocol errors, AUTH and SELECT, reloads while commands
# are pending, and clients that go away while their reply is pending.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use GovTest;

my $SERVER = <<'EOF';
    location = /gov/status { gov_status; }
    location = /health { gov_health; }
    location = /static { return 200 "ok\n"; }
EOF

sub timed_get {
    my ($t, $path) = @_;
    my $start = time;
    my $res = $t->get($path);
    return ($res, time - $start);
}

# --- many concurrent requests share few pipelined connections -----------

{
    my $t = GovTest->new;
    $t->start_redis;
    $t->write_conf(http => "    gov_redis 127.0.0.1:%%REDIS_PORT%%;\n",
                   server => $SERVER);
    $t->start_nginx;

    $t->wait_for(sub { $t->metrics->{gov_redis_connected} == 2 }, 5);

    my @codes = $t->parallel_get('/health', 300);
    is(scalar(grep { $_ == 200 } @codes), 300,
       '300 concurrent health checks all answer 200');

    is($t->redis_clients, 2,
       'Redis sees 2 clients: one connection per worker, not per request');

    my $m = $t->metrics;
    cmp_ok($m->{gov_redis_commands_total}, '>=', 300, 'commands counted');
    cmp_ok($m->{gov_redis_writes_total}, '<', $m->{gov_redis_commands_total},
           'commands issued in one loop pass share one write (pipelining)');
    is($m->{gov_redis_pending}, 0, 'nothing left pending');

    $t->done;
}

# --- Redis killed mid-traffic: fail fast, then recover without reload ----

{
    my $t = GovTest->new;
    $t->start_redis;
    $t->write_conf(
        http => "    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=5s;\n",
        server => $SERVER);
    $t->start_nginx;

    is($t->get('/health')->{status}, 200, 'Redis up: 200');

    # background traffic while Redis dies
    my $log = $t->prefix . '/traffic.log';
    my $pid = fork // die;
    if ($pid == 0) {
        open my $fh, '>', $log or POSIX::_exit(1);
        my $end = time + 1.5;
        while (time < $end) {
            my ($res, $dt) = timed_get($t, '/health');
            printf $fh "%d %.3f\n", $res->{status}, $dt;
        }
        close $fh;
        POSIX::_exit(0);
    }

    sleep 0.5;
    $t->stop_redis;
    waitpid $pid, 0;

    my @lines = split /\n/, $t->read_file('traffic.log');
    my @codes = map { (split / /)[0] } @lines;
    my @slow = grep { (split / /)[1] > 1 } @lines;
    ok(@lines > 10, 'traffic ran while Redis was killed');
    is(scalar(grep { $_ != 200 && $_ != 503 } @codes), 0,
       'every answer is 200 or 503, never 500 or a hang');
    ok((grep { $_ == 503 } @codes), 'requests after the kill get 503');
    is(scalar(@slow), 0, 'no request waited for the 5s command timeout');

    my ($res, $dt) = timed_get($t, '/health');
    is($res->{status}, 503, 'Redis down: 503');
    is($res->{headers}{'retry-after'}, '1', 'with Retry-After');
    cmp_ok($dt, '<', 1, 'answered at once, not after the timeout');

    my @fast = $t->parallel_get('/health', 50);
    is(scalar(grep { $_ == 503 } @fast), 50,
       '50 concurrent requests while down all get 503');

    like($t->get('/static')->{status}, qr/^200$/,
         'the rest of the server is unaffected');

    $t->start_redis;
    ok($t->wait_for(sub { $t->get('/health')->{status} == 200 }, 10),
       'Redis back: health recovers without a reload');

    my $m = $t->metrics;
    cmp_ok($m->{gov_redis_reconnects_total}, '>=', 2,
           'reconnect attempts are counted');
    cmp_ok($m->{'gov_redis_errors_total{kind="unavailable"}'}, '>=', 50,
           'fail-fast refusals are counted');
    ok($t->wait_for(sub { $t->metrics->{gov_redis_connected} == 2 }, 10),
       'both workers reconnected');

    # FIN from the killed Redis ("closed by Redis"), or a reset when a
    # command was written first ("failed"): which one is a matter of timing
    like($t->error_log,
         qr/gov redis: connection to 127\.0\.0\.1:\d+ (?:closed by Redis|failed)/,
         'the lost connection is logged');
    like($t->error_log, qr/gov redis: connected to 127\.0\.0\.1:\d+ after \d+ failed attempts/,
         'the recovery is logged');

    $t->done;
}

# --- a Redis that accepts but never answers: the deadline fires ---------

{
    my $t = GovTest->new;
    my $port = $t->fake_redis;
    $t->write_conf(
        http => "    gov_redis 127.0.0.1:$port timeout=600ms;\n",
        server => $SERVER, workers => 1);
    $t->start_nginx;

    my $pid = fork // die;
    if ($pid == 0) {
        my $res = $t->get('/health');
        POSIX::_exit($res->{status} == 503 ? 0 : 1);
    }

    sleep 0.2;
    my ($res, $dt) = timed_get($t, '/static');
    is($res->{status}, 200, 'the worker answers other requests meanwhile');
    cmp_ok($dt, '<', 0.3, 'at once');

    waitpid $pid, 0;
    is($? >> 8, 0, 'the pending health check got 503 when the deadline fired');

    ($res, $dt) = timed_get($t, '/health');
    is($res->{status}, 503, 'the next command fails too');
    cmp_ok($dt, '<', 2, 'within its deadline');

    my $m = $t->metrics;
    cmp_ok($m->{'gov_redis_errors_total{kind="timeout"}'}, '>=', 1,
           'timeouts are counted');
    is($m->{gov_redis_pending}, 0, 'no command left pending');
    like($t->error_log, qr/gov redis: no reply from 127\.0\.0\.1:\d+ within 600ms, dropping the connection/,
         'the timeout is logged with the deadline');

    $t->done;
}

# --- a peer that is not Redis: protocol error, connection dropped -------

{
    my $t = GovTest->new;
    my $port = $t->fake_redis(reply => "HTTP/1.1 400 Bad Request\r\n\r\n");
    $t->write_conf(
        http => "    gov_redis 127.0.0.1:$port;\n",
        server => $SERVER, workers => 1);
    $t->start_nginx;

    is($t->get('/health')->{status}, 503,
       'garbage from the peer gives 503, not 500');
    like($t->error_log, qr/gov redis: protocol error from 127\.0\.0\.1:\d+/,
         'the protocol error is logged');
    cmp_ok($t->metrics->{'gov_redis_errors_total{kind="protocol"}'}, '>=', 1,
           'protocol errors are counted');

    $t->done;
}

# --- AUTH and SELECT ------------------------------------------------------

{
    my $t = GovTest->new;
    $t->start_redis(password => 's3cret pass');
    $t->write_file('conf/wrong.pw', "not-it\n");
    $t->write_file('conf/right.pw', "s3cret pass\n");

    $t->write_conf(
        http => "    gov_redis 127.0.0.1:%%REDIS_PORT%% "
                . "password_file=wrong.pw;\n",
        server => $SERVER, workers => 1);
    $t->start_nginx;
    my @workers = $t->worker_pids;

    is($t->get('/health')->{status}, 503, 'wrong password: 503');
    like($t->error_log,
         qr/gov redis: AUTH to 127\.0\.0\.1:\d+ refused: "WRONGPASS/,
         'wrong password: a clear error in the log');
    unlike($t->error_log, qr/s3cret|not-it/, 'no password in the log');
    is_deeply([ $t->worker_pids ], \@workers, 'no worker crashed');
    cmp_ok($t->metrics->{'gov_redis_errors_total{kind="auth"}'}, '>=', 1,
           'AUTH failures are counted');
    $t->stop_nginx;
    $t->check_logs;

    $t->write_file('logs/error.log', '');
    $t->write_conf(
        http => "    gov_redis 127.0.0.1:%%REDIS_PORT%% "
                . "password_file=right.pw db=3;\n",
        server => $SERVER, workers => 1);
    $t->start_nginx;

    is($t->get('/health')->{status}, 200, 'right password: 200');
    my $list = $t->redis_cmd('CLIENT', 'LIST');
    like($list, qr/db=3 .*cmd=ping/, 'db=3 is selected on connect');

    $t->done;
}

# --- a unix socket address ----------------------------------------------

{
    my $t = GovTest->new;
    my $sock = $t->prefix . '/redis.sock';
    $t->start_redis(args => [ '--unixsocket', $sock ]);
    $t->write_conf(http => "    gov_redis unix:$sock;\n",
                   server => $SERVER, workers => 1);
    $t->start_nginx;

    is($t->get('/health')->{status}, 200, 'unix socket: 200');

    $t->stop_redis;
    unlink $sock;
    is($t->get('/health')->{status}, 503, 'socket gone: 503');
    sleep 0.3;
    is($t->get('/health')->{status}, 503, 'still 503 while it is missing');

    $t->done;
}

# --- reload while commands are pending; clients that go away -------------

{
    my $t = GovTest->new;
    $t->start_redis;
    $t->write_conf(
        http => "    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=5s;\n",
        server => $SERVER);
    $t->start_nginx;
    is($t->get('/health')->{status}, 200, 'up');

    # clients that go away while their reply is pending
    $t->signal_redis('STOP');
    my @gone;
    for (1 .. 20) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $t->port) or die;
        syswrite $s, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        push @gone, $s;
    }
    sleep 0.3;
    close $_ for @gone;
    sleep 0.3;
    $t->signal_redis('CONT');
    sleep 0.3;

    is($t->get('/health')->{status}, 200,
       'after clients left with replies pending, the worker still works');
    is($t->metrics->{gov_redis_pending}, 0, 'no command left pending');
    cmp_ok($t->metrics->{'gov_requests_total{handler="health",code="499"}'}
           // 0, '>=', 15,
           'the requests of clients that left were finalized at once (499)');

    # reload while commands are pending
    my @old = $t->worker_pids;
    $t->signal_redis('STOP');

    my @kids;
    for (1 .. 5) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $res = $t->get('/health');
            POSIX::_exit($res->{status} == 200 ? 0 : 1);
        }
        push @kids, $pid;
    }

    sleep 0.3;
    kill 'HUP', $t->master_pid;
    sleep 0.5;
    $t->signal_redis('CONT');

    my $ok = 0;
    for (@kids) {
        waitpid $_, 0;
        $ok++ if $? == 0;
    }
    is($ok, 5, 'requests pending across a reload are answered 200');

    ok($t->wait_for(sub {
        my %live = map { $_ => 1 } $t->worker_pids;
        !grep { $live{$_} } @old;
    }, 10), 'old workers exit once their commands are answered');

    is($t->get('/health')->{status}, 200, 'new workers talk to Redis');
    # a new worker that started while Redis was stopped may still be in
    # its reconnect backoff: under a sanitizer that takes a while
    ok($t->wait_for(sub { $t->redis_clients == 2 }, 15),
       'old workers closed their Redis connections: 2 clients left')
        or diag('Redis clients: ' . $t->redis_clients);
    ok($t->wait_for(sub { $t->metrics->{gov_workers} == 2 }, 5),
       'exited workers no longer report gauges');

    $t->done;
}

done_testing();
