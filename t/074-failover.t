#!/usr/bin/perl

# Failover under traffic (CONTRACT section 14): two nginx nodes with
# "wait=1" on a master with two replicas under three sentinels; citizens
# submit, look up, are answered by their departments (signed callbacks) and
# rate, against both nodes, while the master is killed with SIGKILL.  Service
# resumes on the promoted replica without a reload; every acknowledged
# submission, callback and rating is there afterwards; every acknowledged
# step reached its department exactly once; every answer is a 2xx or a 503
# with Retry-After.  The longer drill with two kills is `make drill`.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use GovDrill;

my $r = GovDrill::run(duration => 24, kills => [ 8 ], clients => 4,
                      log => sub { note $_[0] });
my ($t, $u) = @{ $r->{nodes} };

cmp_ok($r->{acked}, '>', 20, "submissions acknowledged ($r->{acked})");
note explain $r->{status};
is($r->{found}, $r->{acked}, 'every acknowledged submission is there')
    or diag explain $r->{missing};
is_deeply($r->{wrong}, [], 'every acknowledged callback and rating is there');
cmp_ok($r->{callbacks}, '>', 0, "callbacks acknowledged ($r->{callbacks})");
cmp_ok($r->{ratings}, '>', 0, "ratings acknowledged ($r->{ratings})");
is($r->{queued_left}, 0, 'the retry queue drained');
is_deeply($r->{twice}, [], 'no acknowledged step reached its department twice');
is_deeply($r->{never}, [], '... and none never');
is_deeply([ map { "$_->{op} $_->{status}" } @{ $r->{other} } ], [],
          'every answer a 2xx or a 503');
ok($r->{status}{503}, "the failover was seen: $r->{status}{503} answers 503");
is($r->{no_retry_after}, 0, 'every 503 with Retry-After');
is_deeply($r->{tracking}, [ 2, 2 ],
          "both nodes' workers hear the promoted master report changes");
for my $k (@{ $r->{kills} }) {
    ok(defined $k->{recovered} && $k->{recovered} < 10,
       sprintf 'a submission acknowledged %.1fs after the master was killed',
       $k->{recovered} // -1);
}

$_->done for $u, $t;
done_testing();
