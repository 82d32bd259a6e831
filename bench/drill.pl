#!/usr/bin/perl
#
# bench/drill.pl (make drill): the failover drill of CONTRACT section 14.
# Two nginx nodes ("wait=1"), a Redis master with two replicas, three
# sentinels (down after 1 s), all on loopback; citizens and departments
# work against both nodes for DURATION seconds while the master is killed
# with SIGKILL at each of KILLS (seconds from the start; the killed Redis
# comes back, empty, 6 s later and the sentinels make it a replica).
# Afterwards it counts, from the new master and the department's own log,
# what was acknowledged and what is there.  The drill itself is
# t/lib/GovDrill.pm (t/074-failover.t runs a short one).
#
#   bench/drill.pl [DURATION] [KILLS]       defaults: 120 "40 80"
#
# Prints the figures as a table (and build/bench/drill.json); exits 1 when
# an acknowledged write is missing, a step was delivered twice or never,
# an answer was neither 2xx nor 503, or a 503 came without Retry-After.

use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use JSON::PP;
use File::Path qw(make_path);
use Test::More;              # GovTest reports through it
use GovDrill;

binmode STDOUT, ':utf8';

my $duration = $ARGV[0] || 120;
my @kills = split ' ', $ARGV[1] || '40 80';
my $clients = $ENV{DRILL_CLIENTS} || 6;

print "# drill: $duration s, $clients citizens on two nodes, master killed "
      . "at @kills s\n";
my $r = GovDrill::run(duration => $duration, kills => \@kills,
                      clients => $clients,
                      log => sub { print "# $_[0]\n" });

my %by;
my $lookups = $r->{status}{200} // 0;
my $total = $r->{answers};
my $n503 = $r->{status}{503} // 0;
my $deliv = join ', ', map { "$_: $r->{deliveries}{$_}" }
                       sort keys %{ $r->{deliveries} };

my @rows = (
    [ 'answers (all kinds, both nodes)', $total ],
    [ 'answers by status', join ', ', map { "$_: $r->{status}{$_}" }
                                      sort keys %{ $r->{status} } ],
    [ 'acknowledged submissions (201)', $r->{acked} ],
    [ '... found afterwards', $r->{found} ],
    [ 'acknowledged callbacks (204)', $r->{callbacks} ],
    [ 'acknowledged ratings (204)', $r->{ratings} ],
    [ '... callbacks or ratings missing afterwards',
      scalar @{ $r->{wrong} } ],
    [ 'steps acknowledged (2 per application)', $r->{steps} ],
    [ 'deliveries per step (deliveries: steps)', $deliv ],
    [ 'answers other than 2xx/503', scalar @{ $r->{other} } ],
    [ '409 to a callback that came before the portal recorded the '
      . "department's receipt (retried)", $r->{early} ],
    [ '409 after a 503 saying the earlier try held', $r->{applied} ],
    [ '503 answers / without Retry-After', "$n503 / $r->{no_retry_after}" ],
    map({ [ sprintf('kill at %.0f s (%s): first acknowledged submission',
                    $_->{at}, $_->{name}),
            defined $_->{recovered}
                ? sprintf('%.2f s later', $_->{recovered}) : 'never' ] }
        @{ $r->{kills} }),
    [ 'retry queue left afterwards', $r->{queued_left} // '?' ],
);

print "\n| figure | value |\n|---|---|\n";
print "| $_->[0] | $_->[1] |\n" for @rows;

my $dir = "$FindBin::Bin/../build/bench";
make_path($dir);
my %out = %$r;
delete $out{nodes};
open my $fh, '>', "$dir/drill.json" or die "$dir/drill.json: $!\n";
print $fh JSON::PP->new->canonical->pretty->encode(\%out);
close $fh;

my $ok = $r->{found} == $r->{acked} && !@{ $r->{wrong} }
         && !@{ $r->{twice} } && !@{ $r->{never} } && !@{ $r->{other} }
         && !$r->{no_retry_after}
         && !grep { !defined $_->{recovered} } @{ $r->{kills} };
for my $k (qw(missing wrong twice never)) {
    print "# $k: @{ $r->{$k} }[0 .. ($#{ $r->{$k} } > 9 ? 9 : $#{ $r->{$k} })]\n"
        if @{ $r->{$k} };
}
print "# other: ", join(', ', map { "$_->{op} $_->{status} "
                                     . ($_->{error} // '') . ' '
                                     . ($_->{id} // '') . ' '
                                     . sprintf('%.3f', $_->{t}) }
                           @{ $r->{other} }), "\n" if @{ $r->{other} };

my ($t, $u) = @{ $r->{nodes} };
Test::More->builder->no_ending(1);
Test::More->builder->output(\my $quiet);
$_->cleanup for $u, $t;
print $ok ? "# drill passed\n" : "# drill FAILED\n";
exit($ok ? 0 : 1);
