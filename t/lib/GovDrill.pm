package GovDrill;

# A failover drill (CONTRACT section 14): a Redis master with two replicas
# under three sentinels, two nginx nodes on them with "wait=1", and citizens
# and departments working against both nodes while the master is killed
# (SIGKILL) at the given moments.  Each citizen submits with an
# Idempotency-Key (the same key again after a 503), looks up its
# applications, and once the department has its steps pushes them to
# "accepted" and "approved" (signed callbacks, as the department would) and
# rates the result.  Afterwards, from the new master and the department's
# own log: every acknowledged submission, callback and rating is there, and
# every acknowledged step reached the department exactly once.
#
#   my $report = GovDrill::run(duration => 120, kills => [40, 80]);
#
# t/074-failover.t runs a short one and asserts it; bench/drill.pl runs the
# full one for `make drill` and prints the figures.

use strict;
use warnings;
use utf8;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use GovTest;

my $SECRET = 'department-secret-0123456789';
my @ITEMS = qw(nhc hukou);

sub run {
    my (%o) = @_;
    my $duration = $o{duration} || 30;
    my @kills = @{ $o{kills} || [ 10 ] };
    my $nclients = $o{clients} || 4;
    my $back = $o{restart_after} || 6;
    my $log = $o{log} || sub { };

    my $cluster = $o{cluster};
    my $shards = $o{shards} || 16;

    my $t = GovTest->new;

    # a replica that must sync in full starts at once (the default waits
    # 5 s for others to share the transfer): README, "Failover drill"
    my @fast = (args => [ '--repl-diskless-sync-delay', '0' ]);
    my ($redis, @sentinels);

    if ($cluster) {
        # three masters with a replica each (Redis Cluster, section 14)
        my $masters = $t->start_cluster(masters => 3, replicas => 1, @fast);
        $redis = "cluster=$masters shards=$shards";
        $t->wait_for(sub {
            3 == grep { $t->redis_replicas($_) == 1 } $t->cluster_masters
        }, 20) or die "the cluster's replicas did not sync\n";

    } else {
        $t->start_redis(@fast);
        $t->start_redis(name => "r$_", replica_of => 'redis', @fast)
            for 2, 3;
        @sentinels = map { $t->start_sentinel(name => "s$_",
                                              monitor => 'redis') } 1 .. 3;
        $t->wait_for(sub { $t->redis_replicas('redis') == 2 }, 15)
            or die "the replicas did not sync\n";
        $t->wait_for(sub {
            my $s = eval { $t->redis_cmd({ name => 's1' }, 'SENTINEL',
                                         'sentinels', 'mymaster') };
            ref $s eq 'ARRAY' && @$s == 2 }, 20)
            or die "the sentinels did not find each other\n";
        $redis = 'sentinel=' . join(',', map { "127.0.0.1:$_" } @sentinels)
                 . ' master=mymaster';
    }

    # the department: takes everything at once, says which step it got;
    # two nodes on the same Redis
    $t->world(
        redis => 0, start => 0, secret => $SECRET,
        dept => sub {
            my ($req) = @_;
            my $id = $req->{headers}{'x-gov-application'} // '';
            my $item = $req->{headers}{'x-gov-item'} // '';
            return { status => 200,
                     body => encode_json({ receipt => "R-$id-$item" }) };
        },
        redis_line => "    gov_redis $redis wait=1 timeout=2s;\n",
        http => "    gov_progress_cache zone=progress:4m ttl=1s;\n",
        bundles => GovTest::newborn(items => [qw(nhc hukou)]),
        server => "    location = /gov/health { gov_health; }\n"
                . "    location = /gov/status { gov_status; }\n");
    my $u = $t->node(start => 0);
    my %r = (nodes => [ $t, $u ]);

    for my $node ($t, $u) {
        $node->start_nginx;
        $node->wait_for(sub { $node->get('/gov/health')->{status} == 200 },
                        15)
            or die "a node did not reach the master\n";
    }

    my @tokens = map {
        $t->token(key => 'hs', alg => 'HS256', kid => 'h1', ttl => 86400,
                  sub => sprintf('11010119900101%04d', $_))
    } 1 .. $nclients;

    # --- traffic ---------------------------------------------------------------

    my $t0 = time;
    my $end = $t0 + $duration;
    my @pids;
    for my $n (0 .. $nclients - 1) {
        my $pid = fork // die "fork: $!\n";
        if ($pid == 0) {
            srand($$ ^ int(time * 1000));
            my $out = citizen($n, [ $t, $u ], $tokens[$n], $end);
            $t->write_file("drill-$n.json", encode_json($out));
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }

    # --- the master killed (or slots moved) at the given moments -----------

    my %byport = map { $t->redis_port($_) => $_ }
                 $cluster ? @{ $t->{cluster} } : qw(redis r2 r3);
    my (@killed, @restart, @moves);
    for my $at (@kills) {
        while (time < $t0 + $at) {
            restart_due($t, \@restart);
            sleep 0.05;
        }
        if ($cluster && ($o{reshard} || 0)) {
            # live resharding: every shard of one master moves to another
            push @moves, reshard($t, $shards, $log, $t0);
            push @killed, { at => time - $t0, name => 'reshard' };
            next;
        }
        my $name;
        if ($cluster) {
            # the master holding shard 0 (its replica takes over)
            $name = $t->cluster_owner('{gov:0}retry');
        } else {
            my $m = eval { $t->redis_cmd({ name => 's3' }, 'SENTINEL',
                                         'get-master-addr-by-name',
                                         'mymaster') };
            $name = ref $m eq 'ARRAY' ? $byport{ $m->[1] } : undef;
        }
        die "no master of this drill to kill\n" unless $name;
        # in a cluster, the shards that master held: their recovery counts
        my %held = $cluster
                   ? map { ($_ => 1) } grep {
                         ($t->cluster_owner("{gov:$_}retry") // '') eq $name
                     } 0 .. $shards - 1
                   : ();
        $t->stop_redis($name);
        my $k = time - $t0;
        push @killed, { at => $k, name => $name,
                        shards => $cluster ? \%held : undef };
        push @restart, [ time + $back, $name ];
        $log->(sprintf "%5.1fs: master %s (port %d) killed", $k, $name,
               $t->redis_port($name));
    }
    while (time < $end) {
        restart_due($t, \@restart);
        for my $m (@moves) {
            next unless $m && waitpid($m, WNOHANG) == $m;
            $r{reshard_done} = time - $t0;
            $m = 0;
        }
        sleep 0.05;
    }
    waitpid $_, 0 for @pids;
    for my $m (grep { $_ } @moves) {
        waitpid $m, 0;
        $r{reshard_done} = time - $t0;
    }
    restart_due($t, \@restart, 1);
    $r{reshard_log} = $t->read_file('reshard.log') if @moves;

    # the redirections the nodes followed (Redis Cluster)
    for my $node ($t, $u) {
        my $st = $node->get('/gov/status')->{content} // '';
        while ($st =~ /^gov_redis_redirects_total\{kind="(\w+)"\} (\d+)/mg) {
            $r{redirects}{$1} += $2;
        }
    }

    # --- what the citizens and departments saw ---------------------------------

    my (@acked, @answers, @cbs, @ratings);
    for my $n (0 .. $nclients - 1) {
        my $o = decode_json($t->read_file("drill-$n.json"));
        push @acked, @{ $o->{acked} };
        push @answers, @{ $o->{answers} };
        push @cbs, @{ $o->{callbacks} };
        push @ratings, @{ $o->{ratings} };
    }
    $r{acked} = scalar @acked;
    $r{answers} = scalar @answers;
    my %status;
    $status{ $_->{status} }++ for @answers;
    $r{status} = \%status;
    $r{other} = [ grep { $_->{status} !~ /^(?:2\d\d|503)$/ && !$_->{applied}
                         && !$_->{early} } @answers ];
    $r{early} = scalar grep { $_->{early} } @answers;
    $r{applied} = scalar grep { $_->{applied} } @answers;
    $r{no_retry_after} = scalar grep { $_->{status} == 503 && !$_->{ra} }
                         @answers;
    $r{callbacks} = scalar @cbs;
    $r{ratings} = scalar @ratings;

    for my $k (@killed) {
        my $at = $t0 + $k->{at};
        my $held = $k->{shards};
        my ($first) = sort { $a <=> $b }
                      map { $_->{start} }
                      grep { $_->{start} > $at
                             && (!$held
                                 || $held->{ substr($_->{id}, -6) % $shards }) }
                      @acked;
        $k->{recovered} = defined $first ? $first - $at : undef;
    }
    $r{kills} = \@killed;

    # --- afterwards: everything acknowledged is there, delivered once ---------

    my $master = sub {
        my $m = eval { $t->redis_cmd({ name => 's3' }, 'SENTINEL',
                                     'get-master-addr-by-name', 'mymaster') };
        return ref $m eq 'ARRAY' ? $byport{ $m->[1] } : 'redis';
    };
    # a command about KEY, to the master holding it (one Redis: "gov:KEY")
    my $ask = sub {
        my ($key, @cmd) = @_;
        return eval { $t->cluster_cmd($key, @cmd) } if $cluster;
        return eval { $t->redis_cmd({ name => $master->() }, @cmd) };
    };
    my $queued = sub {
        my $n = 0;
        for my $k ($cluster ? map { "{gov:$_}retry" } 0 .. $shards - 1
                            : ('gov:retry')) {
            my $q = $ask->($k, 'ZCARD', $k);
            return undef unless defined $q && !ref $q && $q =~ /^\d+$/;
            $n += $q;
        }
        return $n;
    };
    $t->wait_for(sub { my $q = $queued->(); defined $q && $q == 0 }, 90);
    $r{queued_left} = $queued->();

    # the workers hear Redis's reports of changes again (on the promoted
    # master), and what was cached untracked is past its ttl
    $r{tracking} = [ map {
        my $n = $_;
        $n->wait_for(sub { ($n->metrics->{gov_redis_tracking} // 0) == 2 }, 15)
            ? 2 : $n->metrics->{gov_redis_tracking} // 0
    } $t, $u ] unless $cluster;
    sleep 1.1;

    my %tok = map { ($_ => $tokens[$_]) } 0 .. $#tokens;
    my (@missing, @wrong);
    for my $ack (@acked) {
        my $res = $t->get("/progress/$ack->{id}",
                          headers => { Authorization =>
                                       "Bearer $tok{ $ack->{client} }" });
        if ($res->{status} != 200 || !$res->{json}) {
            push @missing, "$ack->{id}: $res->{status}";
            next;
        }
        $ack->{doc} = $res->{json};
    }
    my %doc = map { ($_->{id} => $_->{doc}) } grep { $_->{doc} } @acked;
    my %order = (queued => 0, received => 1, accepted => 2, approved => 3);
    for my $cb (@cbs) {
        my $d = $doc{ $cb->{id} } or next;
        my ($s) = grep { $_->{item} eq $cb->{item} } @{ $d->{steps} };
        next if ($order{ $s->{state} } // -1) >= $order{ $cb->{state} };
        my $sk = $cluster
                 ? '{gov:' . (substr($cb->{id}, -6) % $shards)
                   . "}steps:$cb->{id}"
                 : "gov:steps:$cb->{id}";
        my $raw = $ask->($sk, 'HGET', $sk, $cb->{item});
        push @wrong, "$cb->{id}/$cb->{item}: $s->{state}, acknowledged "
                     . "$cb->{state} (in Redis: " . ($raw // 'nothing') . ')';
    }
    for my $rt (@ratings) {
        my $d = $doc{ $rt->{id} } or next;
        push @wrong, "$rt->{id}: rating "
                     . ($d->{rating} ? $d->{rating}{score} : 'none')
                     . ", acknowledged $rt->{score}"
            unless $d->{rating} && $d->{rating}{score} == $rt->{score};
    }
    $r{missing} = \@missing;
    $r{wrong} = \@wrong;
    $r{found} = @acked - @missing;

    my %got;
    for my $req ($t->backend_requests('dept')) {
        my $h = $req->{headers};
        next if $h->{'x-gov-correction'} || $h->{'x-gov-withdrawal'};
        $got{"$h->{'x-gov-application'}/$h->{'x-gov-item'}"}++;
    }
    my (%per, @twice, @never);
    for my $ack (@acked) {
        for my $item (@ITEMS) {
            my $n = $got{"$ack->{id}/$item"} // 0;
            $per{$n}++;
            push @twice, "$ack->{id}/$item ($n)" if $n > 1;
            push @never, "$ack->{id}/$item" if $n == 0;
        }
    }
    $r{deliveries} = \%per;
    $r{twice} = \@twice;
    $r{never} = \@never;
    $r{steps} = 2 * @acked;

    return \%r;
}

# Moves every slot holding a shard of one master (the master of shard 0)
# to another, with redis-cli --cluster reshard, in the background: the
# pid.  Slots go from the start of the source's range, so the count is up
# to the last slot a shard of it holds.
sub reshard {
    my ($t, $shards, $log, $t0) = @_;
    my $from = $t->cluster_owner('{gov:0}retry');
    my ($to) = grep { $_ ne $from } $t->cluster_masters;
    my $ids = $t->redis_cmd({ name => $from }, 'CLUSTER', 'MYID');
    my $idt = $t->redis_cmd({ name => $to }, 'CLUSTER', 'MYID');
    my $slots = $t->redis_cmd({ name => $from }, 'CLUSTER', 'SLOTS');
    my ($range) = grep { $_->[2][1] == $t->redis_port($from) } @$slots;
    my $last = 0;
    for my $s (0 .. $shards - 1) {
        my $slot = $t->redis_cmd({ name => $from }, 'CLUSTER', 'KEYSLOT',
                                 "{gov:$s}");
        $last = $slot if $slot >= $range->[0] && $slot <= $range->[1]
                         && $slot > $last;
    }
    my $count = $last - $range->[0] + 1;
    $log->(sprintf "%5.1fs: %d slots (%d-%d) of %s moving to %s",
           time - $t0, $count, $range->[0], $last, $from, $to);
    my $port = $t->redis_port($from);
    my $out = $t->prefix . '/reshard.log';
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        exec("redis-cli --cluster reshard 127.0.0.1:$port --cluster-from $ids"
             . " --cluster-to $idt --cluster-slots $count --cluster-yes"
             . " --cluster-pipeline 10 > $out 2>&1")
            or POSIX::_exit(127);
    }
    return $pid;
}

# the old master back after a while (a replica, once the sentinels say so)
sub restart_due {
    my ($t, $list, $all) = @_;
    while (@$list && ($all || $list->[0][0] <= time)) {
        my $e = shift @$list;
        my $was = $t->{redis}{ $e->[1] }{opts} || {};
        # as it was started (a cluster node stays one)
        $t->start_redis(%$was, name => $e->[1],
                        args => $was->{args}
                                || [ '--repl-diskless-sync-delay', '0' ]);
    }
}

sub signed {
    my ($node, $id, $item, $state) = @_;
    # a nonce: a retry after a 503 is a new signature, not a replay
    return $node->callback($id, $item, { state => $state,
                                         receipt => "R-$id-$item",
                                         nonce => int rand 1e9 },
                           timeout => 5);
}

# One citizen (and the departments answering for its applications) until
# $end: returns what was acknowledged and every answer.
sub citizen {
    my ($n, $nodes, $token, $end) = @_;
    my %auth = (Authorization => "Bearer $token");
    my (@acked, @answers, @cbs, @ratings);
    my $seq = 0;

    # sends until a 2xx (or, after a 503, a 409 saying it was done then)
    my $until = sub {
        my ($op, $send, $done409, $id) = @_;
        my $after503 = 0;
        while (time < $end) {
            my $node = $nodes->[ int rand 2 ];
            my $t = time;
            my $res = $send->($node);
            my $ans = { op => $op, status => $res->{status}, t => $t,
                        ra => $res->{headers}{'retry-after'} ? 1 : 0,
                        error => ($res->{json} || {})->{error},
                        id => $id, node => $node->port,
                        tend => time };
            push @answers, $ans;
            return $res if $res->{status} =~ /^2/;
            my $how = $res->{status} == 409 && $done409
                      ? $done409->($res->{json} || {}) : '';
            if ($how eq 'done' && $after503) {
                # the write of an earlier try held after all
                $ans->{applied} = 1;
                return $res;
            }
            if ($how eq 'early') {
                # the portal has not recorded the department's receipt yet
                $ans->{early} = 1;
                sleep 0.2;
                next;
            }
            return undef unless $res->{status} == 503;
            $after503 = 1;
            sleep 0.1;
        }
        return undef;
    };

    while (time < $end) {
        my $key = sprintf 'drill-%d-%d-%d', $n, $$, ++$seq;
        my $start = time;
        my $res = $until->('submit', sub {
            $_[0]->post('/bundles/newborn/applications', timeout => 5,
                        body => encode_json({ fields => { name => '王小宝' },
                                              materials => { photo => 'r' } }),
                        headers => { 'Content-Type' => 'application/json',
                                     'Idempotency-Key' => $key, %auth });
        });
        next unless $res && $res->{json};
        my $id = $res->{json}{id};
        push @acked, { id => $id, client => $n, start => $start,
                       t => time };

        for (1 .. 2) {
            my $pick = $acked[ int rand @acked ]{id};
            my $r = $nodes->[ int rand 2 ]->get("/progress/$pick",
                                                headers => \%auth,
                                                timeout => 5);
            push @answers, { op => 'lookup', status => $r->{status},
                             t => time,
                             ra => $r->{headers}{'retry-after'} ? 1 : 0 };
        }

        # the department works on steps it has received (a replayed
        # answer whose first try was never told is "processing": no steps)
        my @steps = @{ $res->{json}{steps} || [] };
        next if !@steps || grep { $_->{state} ne 'received' } @steps;
        my $all = 1;
        for my $s (@steps) {
            for my $state (qw(accepted approved)) {
                my $ok = $until->('callback', sub {
                    signed($_[0], $id, $s->{item}, $state);
                }, sub {
                    my $st = $_[0]{state} // '';
                    $st eq $state ? 'done'
                    : $st eq 'queued' ? 'early' : '';
                }, "$id/$s->{item}/$state");
                if ($ok) {
                    push @cbs, { id => $id, item => $s->{item},
                                 state => $state, t => time };
                } else {
                    $all = 0;
                    last;
                }
            }
            last unless $all;
        }
        next unless $all;

        my $score = 1 + int rand 5;
        my $ok = $until->('rating', sub {
            $_[0]->post("/progress/$id/rating", timeout => 5,
                        body => encode_json({ score => $score }),
                        headers => { 'Content-Type' => 'application/json',
                                     %auth });
        }, sub { ($_[0]{error} // '') eq 'already_rated' ? 'done' : '' },
        $id);
        push @ratings, { id => $id, score => $score } if $ok;
    }

    return { acked => \@acked, answers => \@answers, callbacks => \@cbs,
             ratings => \@ratings };
}

1;
