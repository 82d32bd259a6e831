#!/usr/bin/perl
#
# bench/queue.pl (bench/queue.sh, make bench): the waiting room at ten
# times its rate.  Two nginx nodes (two workers each) on one Redis put a
# static page behind "gov_queue_zone peak rate=RATE/s"; visitors arrive
# evenly at 10 x RATE a second for ARRIVE seconds, half through each node,
# and each keeps its cookie and looks again when Retry-After says, until
# let in or DRAIN seconds after the arrivals end.  Of them, 2% walk away
# after their first ticket (QUEUE_ABANDON=0.3: 30%, never to come back),
# and 1% come with a forged pass.  When everyone is in or gone, a newcomer
# comes: the turns of those who left have passed with time, so it waits
# at most a second.  Figures:
#
#   admissions a second over the saturated window (target RATE +- 5%);
#   inversions: visitors let in after someone who came later and was let
#     in more than one look earlier (target under 1%);
#   5xx answers (target 0);
#   the first estimated wait against the wait each visitor had (target
#     within +-25%);
#   abandoned tickets dropped, and forged passes that got a ticket;
#   the newcomer's wait once the line's last turn has passed (target 1 s).
#
#   bench/queue.pl [RATE] [ARRIVE] [DRAIN]        defaults: 10 60 60
#
# Prints a table and writes build/bench/queue.json; exits 1 when a target
# is missed.

use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use JSON::PP;
use HTTP::Tiny;
use POSIX ();
use File::Path qw(make_path);
use Time::HiRes qw(time sleep);
use Test::More;              # GovTest reports through it
use GovTest;

binmode STDOUT, ':utf8';

my $rate = $ARGV[0] || 10;
my $arrive = $ARGV[1] || 60;
my $drain = $ARGV[2] || 60;
my $procs = $ENV{QUEUE_CLIENTS} || 6;
my $abandon = $ENV{QUEUE_ABANDON} // 0.02;
my $visitors = int($rate * 10 * $arrive);

my $t = GovTest->new;
my $u = GovTest->new;
$t->start_redis;
$u->{redis}{redis} = { port => $t->redis_port };

my $http = <<"EOF";
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s connections=2;
    gov_queue_zone peak rate=$rate/s;
EOF
my $server = <<'EOF';
    root %%PREFIX%%/html;
    access_log off;
    location /peak/ { gov_queue peak; }
    location = /status { gov_status; }
EOF
for my $n ($t, $u) {
    $n->write_file('html/peak/index.html', "inside\n");
    $n->write_conf(http => $http, server => $server, workers => 2);
    $n->start_nginx;
}

printf "# bench/queue.pl: rate $rate/s, $visitors visitors over ${arrive}s "
       . "(10x), drain ${drain}s, %.0f%% walk away, two nodes, $procs client "
       . "processes\n", 100 * $abandon;

my $t0 = time + 1;
my $end = $t0 + $arrive + $drain;
my @ports = ($t->port, $u->port);

my @pids;
for my $k (0 .. $procs - 1) {
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        my $out = client($k);
        $t->write_file("queue-$k.json", encode_json($out));
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;

my @v;
push @v, @{ decode_json($t->read_file("queue-$_.json")) } for 0 .. $procs - 1;

# --- figures ---------------------------------------------------------------------

my %r = (rate => $rate, visitors => scalar @v, arrive => $arrive,
         drain => $drain);

my @in = grep { defined $_->{in} } @v;
$r{admitted} = scalar @in;
$r{straight_in} = scalar grep { !defined $_->{ticket} } @in;
$r{fivexx} = 0;
$r{fivexx} += $_->{fivexx} for @v;
$r{other} = 0;
$r{other} += $_->{other} for @v;

# the saturated window: from 5 s in until the line runs dry or the end
my @waited = sort { $a->{in} <=> $b->{in} } grep { defined $_->{ticket} } @in;
my $from = $t0 + 5;
my $to = $t0 + $arrive + $drain - 1;
my @still = grep { !defined $_->{in} && !$_->{abandon} && !$_->{forged_ok} }
            @v;
if (!@still && @waited) {
    $to = $waited[-1]{in} - 1;
}
my %sec;
$sec{ int($_->{in} - $t0) }++ for grep { $_->{in} >= $from && $_->{in} < $to }
                                  @in;
my @per = map { $sec{$_} // 0 } (int($from - $t0) .. int($to - $t0) - 1);
my $sum = 0;
$sum += $_ for @per;
$r{window} = [ int($from - $t0), int($to - $t0) ];
$r{per_second} = [ @per ];
$r{per_second_mean} = @per ? $sum / @per : 0;
my @sp = sort { $a <=> $b } @per;
$r{per_second_p5} = $sp[ int(@sp * 0.05) ] // 0;
$r{per_second_p95} = $sp[ int(@sp * 0.95) ] // 0;
$r{rate_error} = $rate ? ($r{per_second_mean} - $rate) / $rate : 0;

# over five seconds, the look interval's phase evens out
my @five;
for (my $i = 0; $i + 5 <= @per; $i += 5) {
    my $s5 = 0;
    $s5 += $per[$_] for $i .. $i + 4;
    push @five, $s5 / 5;
}
@five = sort { $a <=> $b } @five;
$r{five_second_min} = $five[0] // 0;
$r{five_second_max} = $five[-1] // 0;

# inversions: let in after a later ticket, by more than one look
my $inv = 0;
my @seen;
for my $x (@waited) {
    # someone with a later ticket let in more than x's look interval before
    my $lo = @seen > 200 ? @seen - 200 : 0;
    $inv++ if grep { $_->{ticket} > $x->{ticket}
                     && $_->{in} < $x->{in} - $x->{look} } @seen[$lo .. $#seen];
    push @seen, $x;
}
$r{inversions} = scalar @waited ? $inv / @waited : 0;

# the first estimate against the wait
my @err;
for my $x (@waited) {
    my $had = $x->{in} - $x->{arrived};
    next if $had < 5;
    push @err, ($x->{eta} - $had) / $had;
}
my @ae = sort { $a <=> $b } map { abs } @err;
$r{eta_compared} = scalar @err;
$r{eta_within_25} = @err ? (grep { $_ <= 0.25 } @ae) / @err : 0;
$r{eta_median_error} = @ae ? $ae[ int(@ae / 2) ] : 0;
$r{eta_p90_error} = @ae ? $ae[ int(@ae * 0.9) ] : 0;

# a newcomer once every visitor is in or gone: the line's turns are past
if (!@still) {
    my $ua = HTTP::Tiny->new(timeout => 10);
    my ($cookie, $first, $in) = ('', time, undef);
    while (time - $first < 30) {
        my $res = $ua->get("http://127.0.0.1:$ports[0]/peak/",
                           { headers => { Accept => 'application/json',
                                          $cookie ? (Cookie => $cookie)
                                                  : () } });
        if ($res->{status} == 200) {
            $in = time;
            last;
        }
        my $c = $res->{headers}{'set-cookie'} // '';
        $c = join ',', @$c if ref $c;
        ($cookie) = $c =~ /(GOVQ_peak=t\.[^;]+)/ if $c =~ /GOVQ_peak=t\./;
        sleep($res->{headers}{'retry-after'} || 1);
    }
    $r{newcomer_wait} = defined $in ? $in - $first : 30;
}

my $m = $t->metrics('/status');
$r{dropped} = $m->{'gov_queue_dropped_total{zone="peak"}'} // 0;
$m = $u->metrics('/status');
$r{dropped} += $m->{'gov_queue_dropped_total{zone="peak"}'} // 0;
$r{abandoned} = scalar grep { $_->{abandon} } @v;
$r{forged} = scalar grep { $_->{forged} } @v;
$r{forged_ticket} = scalar grep { $_->{forged} && $_->{forged_ticket} } @v;
$r{still_waiting} = scalar @still;
my @lags = map { $_->{lag} } grep { $_->{lag} } @v;
$r{client_lag_p50} = (sort { $b <=> $a } map { $_->[0] } @lags)[0] // 0;
$r{client_lag_p99} = (sort { $b <=> $a } map { $_->[1] } @lags)[0] // 0;

my @rows = (
    [ 'visitors (10 x rate for the arrival time)', $r{visitors} ],
    [ 'let in (straight in / after waiting)',
      "$r{admitted} ($r{straight_in} / " . scalar(@waited) . ')' ],
    [ "admissions a second, seconds $r{window}[0]-$r{window}[1]",
      sprintf('%.2f (p5 %d, p95 %d), %+.1f%% of %d/s (target +-5%%)',
              $r{per_second_mean}, $r{per_second_p5}, $r{per_second_p95},
              100 * $r{rate_error}, $rate) ],
    [ 'admissions a second, averaged over each 5 s (lowest, highest)',
      sprintf('%.1f, %.1f', $r{five_second_min}, $r{five_second_max}) ],
    [ 'inversions (target under 1%)', sprintf('%.2f%%', 100 * $r{inversions}) ],
    [ '5xx answers (target 0)', $r{fivexx} ],
    [ 'other unexpected answers', $r{other} ],
    [ 'first estimated wait within +-25% of the wait had',
      sprintf('%.1f%% of %d (median error %.1f%%, p90 %.1f%%)',
              100 * $r{eta_within_25}, $r{eta_compared},
              100 * $r{eta_median_error}, 100 * $r{eta_p90_error}) ],
    [ 'abandoned tickets / dropped by the room',
      "$r{abandoned} / $r{dropped}" ],
    [ 'forged passes / given a ticket', "$r{forged} / $r{forged_ticket}" ],
    [ 'still waiting at the end', $r{still_waiting} ],
    [ "a newcomer's wait once the line's last turn passed (target 1 s)",
      defined $r{newcomer_wait} ? sprintf('%.2f s', $r{newcomer_wait})
                                : 'the line did not empty' ],
    [ "the clients' own lateness (median, p99 of the worst process)",
      sprintf('%.0f ms, %.0f ms', 1000 * $r{client_lag_p50},
              1000 * $r{client_lag_p99}) ],
);
print "\n| figure | value |\n|---|---|\n";
print "| $_->[0] | $_->[1] |\n" for @rows;

my $dir = "$FindBin::Bin/../build/bench";
make_path($dir);
open my $fh, '>', "$dir/queue.json" or die "$dir/queue.json: $!\n";
print $fh JSON::PP->new->canonical->pretty->encode(\%r);
close $fh;

my $ok = abs($r{rate_error}) <= 0.05 && $r{inversions} < 0.01
         && $r{fivexx} == 0 && $r{other} == 0
         && $r{forged_ticket} == $r{forged}
         && $r{dropped} >= $r{abandoned}
         && $r{eta_within_25} >= 0.5
         && ($r{newcomer_wait} // 0) <= 1;

Test::More->builder->no_ending(1);
Test::More->builder->output(\my $quiet);
$_->cleanup for $u, $t;
print $ok ? "# queue bench passed\n" : "# queue bench: a target missed\n";
exit($ok ? 0 : 1);

# One client process: the visitors whose number is k modulo the processes.
sub client {
    my ($k) = @_;
    my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 1);
    my (@mine, @lag);
    for (my $i = $k; $i < $visitors; $i += $procs) {
        # past the first seconds the line is long: the forgers come then;
        # walkers-away from the first second's end
        my $late = $i >= $rate * 10 * 5;
        push @mine, { n => $i, at => $t0 + $i / ($rate * 10),
                      node => $i % 2,
                      abandon => ($i >= $rate && $i % 100 != 3
                                  && ($i * 37) % 1000 < 1000 * $abandon
                                  ? 1 : 0),
                      forged => ($late && $i % 100 == 3 ? 1 : 0) };
    }

    while (1) {
        my $next;
        for (@mine) {
            $next = $_ if !$_->{done} && (!$next || $_->{at} < $next->{at});
        }
        last unless $next;
        last if $next->{at} > $end;
        my $wait = $next->{at} - time;
        sleep $wait if $wait > 0;
        push @lag, time - $next->{at} if $next->{at} > $t0 + 5;

        my $v = $next;
        my %h = (Accept => 'application/json');
        if ($v->{cookie}) {
            $h{Cookie} = $v->{cookie};
        } elsif ($v->{forged}) {
            $h{Cookie} = 'GOVQ_peak=p.' . (int(time) + 600) . '.' . ('ab' x 32);
        }
        my $now = time;
        my $res = $ua->get("http://127.0.0.1:$ports[$v->{node}]/peak/",
                           { headers => \%h });
        $v->{arrived} //= $now;
        my $c = $res->{headers}{'set-cookie'} // '';
        $c = join ',', @$c if ref $c;

        if ($res->{status} == 200) {
            $v->{in} = time;
            $v->{done} = 1;
            $v->{forged_ok} = 1 if $v->{forged} && !$v->{cookie};
        } elsif ($res->{status} == 429) {
            my $j = eval { decode_json($res->{content}) } || {};
            my ($cookie) = $c =~ /(GOVQ_peak=t\.[^;]+)/;
            if ($cookie && !defined $v->{ticket}) {
                ($v->{ticket}) = $cookie =~ /t\.(\d+)\./;
                $v->{eta} = $j->{eta};
                $v->{forged_ticket} = 1 if $v->{forged};
            }
            $v->{cookie} = $cookie if $cookie;
            my $ra = $res->{headers}{'retry-after'} || 1;
            $v->{look} = $ra;
            $v->{at} = time + $ra;
            $v->{done} = 1 if $v->{abandon};
        } elsif ($res->{status} >= 500) {
            $v->{fivexx}++;
            $v->{at} = time + 1;
        } else {
            $v->{other}++;
            $v->{done} = 1;
        }
    }

    @lag = sort { $a <=> $b } @lag;
    $mine[0]{lag} = [ $lag[ int(@lag * 0.5) ] // 0, $lag[ int(@lag * 0.99) ] // 0 ]
        if @mine;
    return [ map { {
        lag => $_->{lag},
        n => $_->{n}, arrived => $_->{arrived}, in => $_->{in},
        ticket => $_->{ticket}, eta => $_->{eta}, look => $_->{look} // 1,
        abandon => $_->{abandon}, forged => $_->{forged},
        forged_ticket => $_->{forged_ticket}, forged_ok => $_->{forged_ok},
        fivexx => $_->{fivexx} // 0, other => $_->{other} // 0,
    } } @mine ];
}
