#!/usr/bin/perl

# The fault matrix for Redis (issue #37), t/190's for the HTTP
# dependencies: one Redis, a master found through Sentinel (gov_redis
# sentinel=, acknowledged on a replica: wait=1), and a Cluster of three
# masters (gov_redis cluster=), each given every fault in turn:
#
# - refused: the port closed (one Redis: its proxy stopped; Sentinel and
#   Cluster: the master killed, then started again);
# - silent: the master stopped (SIGSTOP) for the fault's whole window;
# - 500: the master answers an error (maxmemory 1: -OOM on every write);
# - bad: what answers is not RESP (a proxy answering an HTML page: in
#   front of Redis, of the sentinels, of one Cluster node);
# - slow: the master answers after gov_redis timeout= (DEBUG SLEEP 3);
# - cut: the answer cut in the middle and the connection closed.
#
# For each fault, six submissions at once, each with its own
# Idempotency-Key, and a lookup:
#
# - each answers 201, or 503 with Retry-After (reason "storage"), within
#   its bound: at once when refused, bad, cut or an error; gov_redis
#   timeout= (2 s) when silent or slow; a lookup answers 200 or 503 in
#   the same bounds;
# - the workers idle meanwhile (their CPU time over 3 s near zero), and
#   error.log grows by kilobytes;
# - once Redis is back, submissions are 201 again, each key submitted
#   again gives one application (the one stored before the answer was
#   lost, if any), each 201 is in Redis, and no application was stored
#   but those: nothing half-written, nothing twice.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use GovTest;

my $t = GovTest->new;
my $prefix = $t->prefix;
my @debug = ('--enable-debug-command', 'yes');

my %h = ('Content-Type' => 'application/json');
my $body = encode_json({ fields => { name => '张三' },
                         materials => { photo => 'ref-1' } });

# the world, its nginx with gov_redis LINE
sub world {
    my ($line) = @_;
    $t->stop_nginx if $t->master_pid;
    $t->write_file('logs/error.log', '');
    $t->world(redis => 0, workers => 2, start => 0,
              redis_line => "    gov_redis $line timeout=2s;\n",
              server => "    location = /gov/status { gov_status; }\n");
    $t->start_nginx;
    $h{Authorization} = 'Bearer ' . $t->citizen;
}

sub submit {
    my ($key) = @_;
    return $t->post('/bundles/newborn/applications', body => $body,
                    headers => { %h, 'Idempotency-Key' => $key },
                    timeout => 15);
}

# the applications stored on the Redis NODES, by id
sub stored {
    my (@nodes) = @_;
    my %ids;
    for my $n (@nodes) {
        my $cursor = 0;
        do {
            # gov:app:ID, or {gov:N}app:ID in a Cluster
            my $r = $t->redis_cmd({ name => $n }, 'SCAN', $cursor, 'MATCH',
                                  '*app:*', 'COUNT', 1000);
            $cursor = $r->[0];
            /^(?:gov:|\{gov:\d+\})app:(\w+)$/ and $ids{$1} = 1
                for @{ $r->[1] };
        } while ($cursor);
    }
    return \%ids;
}

# a DEBUG SLEEP in the background: its pid
sub sleep_redis {
    my ($name, $s) = @_;
    my $pid = fork // die;
    if ($pid == 0) {
        eval { $t->redis_cmd({ name => $name }, 'DEBUG', 'SLEEP', $s) };
        POSIX::_exit(0);
    }
    sleep 0.3;                          # asleep before the burst
    return $pid;
}

# matrix(TOPOLOGY, FAULTS, NODES, MASTER): every fault of FAULTS
# ({ name => [ on, off ] }), NODES the names whose applications count
sub matrix {
    my ($topo, $faults, $nodes) = @_;
    my $n = 0;

    my $first;
    ok($t->wait_for(sub { ($first = submit("$topo-first"))->{status} == 201 },
                    15), "$topo: up, a submission 201");
    my $old = $first->{json}{id} // 'none';

    for my $fault (qw(refused silent 500 bad slow cut)) {
        my ($on, $off) = @{ $faults->{$fault} };
        my $what = "$topo, $fault";
        my $before = stored($nodes->());
        my $log0 = -s "$prefix/logs/error.log";
        my $c0 = $t->cpu_ticks;
        my $t0 = time;

        $on->();

        my $bound = $fault =~ /silent|slow/ ? 2.6 : 0.6;
        my @keys = map { "$topo-$fault-$_" } 1 .. 6;
        my @r = $t->parallel('POST', '/bundles/newborn/applications', 6,
                             headers => \%h, body => $body, timeout => 15,
                             each => sub { ('Idempotency-Key' => $keys[$_[0]]) });
        my $s0 = time;
        my $p = $t->get("/progress/$old", headers => \%h, timeout => 15);
        my $pt = time - $s0;
        my %codes;
        $codes{ $_->{status} }++ for @r;
        my @odd = grep { $_->{status} != 201 && $_->{status} != 503 } @r;
        is(scalar @odd, 0, "$what: each submission 201 or 503 ("
           . join(', ', map { "$_ x$codes{$_}" } sort keys %codes) . ')')
            or diag($odd[0]{status}, ' ', $odd[0]{body});
        my @no = grep { $_->{status} == 503
                        && ($_->{head} !~ /^Retry-After: \d+\r?$/mi
                            || $_->{body} !~ /"reason":"storage"/) } @r;
        is(scalar @no, 0, '... each 503 with Retry-After, reason "storage"');
        my ($slowest) = sort { $b <=> $a } map { $_->{took} } @r;
        cmp_ok($slowest, '<', $bound, sprintf('... within %.1f s (%.2f s)',
                                              $bound, $slowest));
        ok($p->{status} == 200 || $p->{status} == 503,
           "$what: a lookup $p->{status}");
        cmp_ok($pt, '<', $bound, sprintf('... within %.1f s (%.2f s)', $bound,
                                         $pt));

        # the fault's window: 3 s from its start
        sleep 3 - (time - $t0) if time - $t0 < 3;
        my $c = $t->cpu_ticks - $c0;
        cmp_ok($c, '<', 30, "$what: the workers idle ($c ticks)");

        $off->();

        # back: four 201s in a row (each worker's first request after a
        # timeout may still be 503: a connection that timed out is not
        # waited on while it reconnects)
        my ($probes, $row, @told) = (0, 0);
        ok($t->wait_for(sub {
               my $r = submit("$topo-$fault-probe-" . ++$probes);
               $row = $r->{status} == 201 ? $row + 1 : 0;
               push @told, $probes if $r->{status} != 201;
               $row == 4 }, 30),
           "$what: back, submissions 201 ($probes tries)");

        # each key again, as a citizen told 503 does after Retry-After:
        # one application per key, the first stored if any
        my (%id, @again);
        for my $i (@told) {
            # a probe told 503 may be stored (its WAIT not answered in
            # time): again with its key, it is the one application
            $t->wait_for(sub {
                submit("$topo-$fault-probe-$i")->{status} == 201 }, 10);
        }
        for my $i (0 .. 5) {
            my $r;
            $t->wait_for(sub { ($r = submit($keys[$i]))->{status} == 201 },
                         10);
            push @again, $r->{status};
            $id{ $r->{json}{id} // '' }++;
            if ($r[$i]{status} == 201) {
                my $was = eval { decode_json($r[$i]{body})->{id} } // '-';
                is($r->{json}{id}, $was, "... $keys[$i] again: the same one")
                    unless ($r->{json}{id} // '') eq $was;
            }
        }
        is_deeply(\@again, [ (201) x 6 ], '... each key again: 201')
            or diag(join ' ', @again);
        my $after = stored($nodes->());
        my @new = grep { !$before->{$_} } keys %$after;
        my $want = 6 + $probes;         # the keys, the probes
        is(scalar @new, $want, "... $want applications stored, no more"
                               . ' (nothing half-written, nothing twice)')
            or diag(scalar(@new), " stored, probes $probes");
        is(scalar(grep { $_ && !$after->{$_} } keys %id), 0,
           '... each one answered is stored');

        my $grew = (-s "$prefix/logs/error.log") - $log0;
        cmp_ok($grew, '<', 32 * 1024, "$what: error.log grew $grew bytes");
    }
}

# --- one Redis --------------------------------------------------------------

$t->start_redis(name => 'one', args => \@debug);
my $px = $t->fault_proxy(to => $t->redis_port('one'));
world("127.0.0.1:$px");

sub proxy_mode {
    my ($mode, @ports) = @_;
    for my $p (@ports) {
        if ($mode) {
            $t->write_file("proxy.$p", $mode);
        } else {
            unlink "$prefix/proxy.$p";
        }
    }
}

my $sleeper;
matrix('one Redis', {
    refused => [ sub { $t->stop_proxy($px) },
                 sub { $t->fault_proxy(port => $px) } ],
    silent  => [ sub { $t->signal_redis('STOP', 'one') },
                 sub { $t->signal_redis('CONT', 'one') } ],
    500     => [ sub { $t->redis_cmd({ name => 'one' }, 'CONFIG', 'SET',
                                     'maxmemory', 1) },
                 sub { $t->redis_cmd({ name => 'one' }, 'CONFIG', 'SET',
                                     'maxmemory', 0) } ],
    bad     => [ sub { proxy_mode('bad', $px) }, sub { proxy_mode('', $px) } ],
    slow    => [ sub { $sleeper = sleep_redis('one', 3) },
                 sub { waitpid $sleeper, 0 } ],
    cut     => [ sub { proxy_mode('cut', $px) }, sub { proxy_mode('', $px) } ],
}, sub { 'one' });

# --- Sentinel: the master, and the sentinels that name it -----------------
#
# refused, silent, 500 and slow happen to the master (the first two, and a
# sleep past the sentinels' down-after, end in a failover: the module
# follows the master the sentinels name); bad and cut to the sentinels
# (each behind a proxy), asked again once the master dropped our clients.

$t->start_redis(name => 'sm', args => \@debug);
$t->start_redis(name => 'sr', replica_of => 'sm', args => \@debug);
my @sp;
for my $i (1 .. 3) {
    $t->start_sentinel(name => "ss$i", monitor => 'sm');
    push @sp, $t->fault_proxy(to => $t->redis_port("ss$i"));
}
ok($t->wait_for(sub {
    my $r = $t->redis_cmd({ name => 'ss1' }, 'SENTINEL', 'sentinels',
                          'mymaster');
    ref $r eq 'ARRAY' && @$r == 2 }, 15), 'the three sentinels know each other');

# the master the sentinels name now, and the other
sub master_now {
    my $r = $t->redis_cmd({ name => 'ss2' }, 'SENTINEL',
                          'get-master-addr-by-name', 'mymaster');
    my $port = ref $r eq 'ARRAY' ? $r->[1] : 0;
    return $port == $t->redis_port('sm') ? ('sm', 'sr') : ('sr', 'sm');
}

# a Redis of the pair back, as a replica of the master
sub pair_back {
    my ($name) = @_;
    my ($m) = master_now();
    $t->start_redis(name => $name, replica_of => $m, args => \@debug);
    $t->wait_for(sub { $t->redis_replicas($m) >= 1 }, 20);
}

my $down;
world('sentinel=' . join(',', map { "127.0.0.1:$_" } @sp)
      . ' master=mymaster wait=1');
matrix('Sentinel', {
    refused => [ sub { ($down) = master_now(); $t->stop_redis($down) },
                 sub { $t->wait_for(sub { (master_now())[0] ne $down }, 20);
                       pair_back($down) } ],
    silent  => [ sub { ($down) = master_now(); $t->signal_redis('STOP', $down) },
                 sub { $t->signal_redis('CONT', $down);
                       $t->wait_for(sub {
                           my ($m, $r) = master_now();
                           $t->redis_replicas($m) >= 1 }, 20) } ],
    500     => [ sub { $t->redis_cmd({ name => (master_now())[0] }, 'CONFIG',
                                     'SET', 'maxmemory', 1) },
                 sub { $t->redis_cmd({ name => (master_now())[0] }, 'CONFIG',
                                     'SET', 'maxmemory', 0) } ],
    bad     => [ sub { proxy_mode('bad', @sp);
                       $t->redis_cmd({ name => (master_now())[0] }, 'CLIENT',
                                     'KILL', 'TYPE', 'normal') },
                 sub { proxy_mode('', @sp) } ],
    slow    => [ sub { $sleeper = sleep_redis((master_now())[0], 3) },
                 sub { waitpid $sleeper, 0;
                       $t->wait_for(sub {
                           my ($m, $r) = master_now();
                           $t->redis_replicas($m) >= 1 }, 20) } ],
    cut     => [ sub { proxy_mode('cut', @sp);
                       $t->redis_cmd({ name => (master_now())[0] }, 'CLIENT',
                                     'KILL', 'TYPE', 'normal') },
                 sub { proxy_mode('', @sp) } ],
}, sub { ('sm', 'sr') });

# --- Cluster: one master of three ------------------------------------------
#
# Each node behind a proxy it announces (clients reach it only through
# that); every fault happens to the master that holds the citizen's shard
# (one citizen's keys are one slot): its commands fail, and when it is
# away longer than the node timeout (1 s), the cluster's.

# no replicas: a master killed keeps its data in its append-only file
my $seeds = $t->start_cluster(masters => 3, replicas => 0, proxied => 1,
                              args => [ @debug, '--appendonly', 'yes',
                                        '--appendfsync', 'always' ]);
world("cluster=$seeds");

# a citizen's applications are one shard: the master that holds it
my $where = submit('cluster-where');
is($where->{status}, 201, 'Cluster: a submission 201');
my $wid = $where->{json}{id} // 'none';
my ($vn) = grep { stored($_)->{$wid} } @{ $t->{cluster} };
ok($vn, "... stored on one master ($vn)");
my $c1 = $t->{redis}{$vn}{proxy};
matrix('Cluster', {
    refused => [ sub { $t->stop_proxy($c1); $t->stop_redis($vn) },
                 sub { $t->start_redis(%{ $t->{redis}{$vn}{opts} });
                       $t->fault_proxy(port => $c1);
                       $t->wait_cluster } ],
    silent  => [ sub { $t->signal_redis('STOP', $vn) },
                 sub { $t->signal_redis('CONT', $vn); $t->wait_cluster } ],
    500     => [ sub { $t->redis_cmd({ name => $vn }, 'CONFIG', 'SET',
                                     'maxmemory', 1) },
                 sub { $t->redis_cmd({ name => $vn }, 'CONFIG', 'SET',
                                     'maxmemory', 0) } ],
    bad     => [ sub { proxy_mode('bad', $c1) }, sub { proxy_mode('', $c1) } ],
    slow    => [ sub { $sleeper = sleep_redis($vn, 3) },
                 sub { waitpid $sleeper, 0; $t->wait_cluster } ],
    cut     => [ sub { proxy_mode('cut', $c1) }, sub { proxy_mode('', $c1) } ],
}, sub { @{ $t->{cluster} } });

$t->done(allow => [ qr/gov redis: /, qr/connect\(\) to \S+ failed/ ]);
done_testing();
