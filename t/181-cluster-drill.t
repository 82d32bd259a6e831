#!/usr/bin/perl

# Redis Cluster under traffic (CONTRACT section 14, issue #19): two nginx
# nodes with "wait=1" on a loopback cluster of three masters with a replica
# each; citizens submit, look up, are answered by their departments (signed
# callbacks) and rate, against both nodes, while
#
#   - every slot holding a shard of one master is moved to another with
#     redis-cli --cluster reshard (MOVED, ASK and TRYAGAIN followed), and
#   - a master is killed with SIGKILL (its replica promoted by the cluster).
#
# Afterwards: every acknowledged submission, callback and rating is there;
# every acknowledged step reached its department exactly once; every answer
# is a 2xx (or, only while a master is down, a 503 with Retry-After).

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use GovDrill;

for my $case ([ reshard => 1 ], [ kill => 0 ]) {
    my ($name, $reshard) = @$case;
    my $r = GovDrill::run(duration => 24, kills => [ 6 ], clients => 4,
                          cluster => 1, shards => 16, reshard => $reshard,
                          log => sub { note $_[0] });
    my ($t, $u) = @{ $r->{nodes} };

    note explain $r->{status};
    note explain $r->{redirects};
    cmp_ok($r->{acked}, '>', 20, "$name: submissions acknowledged ($r->{acked})");
    is($r->{found}, $r->{acked}, "$name: every acknowledged submission is there")
        or diag explain $r->{missing};
    is_deeply($r->{wrong}, [], "$name: every acknowledged callback and rating is there");
    cmp_ok($r->{callbacks}, '>', 0, "$name: callbacks acknowledged ($r->{callbacks})");
    cmp_ok($r->{ratings}, '>', 0, "$name: ratings acknowledged ($r->{ratings})");
    is($r->{queued_left}, 0, "$name: the retry queues drained");
    is_deeply($r->{twice}, [], "$name: no acknowledged step reached its department twice");
    is_deeply($r->{never}, [], "$name: ... and none never");
    is_deeply([ map { "$_->{op} $_->{status}" } @{ $r->{other} } ], [],
              "$name: every answer a 2xx or a 503");
    is($r->{no_retry_after}, 0, "$name: every 503 with Retry-After");

    if ($reshard) {
        like($r->{reshard_log} // '', qr/Moving slot \d+ from/,
             'redis-cli --cluster reshard moved the slots');
        ok(defined $r->{reshard_done},
           sprintf 'the reshard ran to its end (at %.1fs)',
           $r->{reshard_done} // -1);
        cmp_ok($r->{redirects}{moved} // 0, '>', 0,
               "MOVED followed ($r->{redirects}{moved})");
        is($r->{status}{503} // 0, 0,
           'no answer but a 2xx while slots moved: every redirection retried');
    } else {
        ok($r->{status}{503}, "the master's death was seen: "
           . ($r->{status}{503} // 0) . ' answers 503');
        for my $k (@{ $r->{kills} }) {
            ok(defined $k->{recovered} && $k->{recovered} < 10,
               sprintf 'a submission in a shard of the killed master '
               . 'acknowledged %.1fs after it died (its replica promoted)',
               $k->{recovered} // -1);
        }
    }

    $_->done(allow => [ qr/gov redis: / ]) for $u, $t;
}

done_testing();
