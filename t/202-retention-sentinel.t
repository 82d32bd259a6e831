#!/usr/bin/perl

# Retention and the archive with Redis Sentinel (CONTRACT sections 14,
# 16): a master and its replica under three sentinels.  Applications made
# final before the master is killed, and one after the replica took over,
# all leave Redis once due (nginx's clock moved) through the promoted
# master, each archived once; the open one stays; what left is read back
# from the archive.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use GovTest;

my $day = 86400;

my $t = GovTest->new;
$t->fake_time(time);
$t->start_redis;
$t->start_redis(name => 'replica', replica_of => 'redis');
my @sentinels = map { $t->start_sentinel(name => "s$_", monitor => 'redis') }
                1 .. 3;
my $list = join ',', map { "127.0.0.1:$_" } @sentinels;
$t->archive_service;

my ($http, $archive) = $t->retention_conf('finished=30d');

$t->world(redis => 0, workers => 2,
          redis_line => "    gov_redis sentinel=$list master=mymaster "
                        . "timeout=2s;\n",
          http => $http, server => $archive . <<'EOF');
    location = /gov/health { gov_health; }
EOF

ok($t->wait_for(sub { $t->get('/gov/health')->{status} == 200 }, 10),
   'the master found through the sentinels');

my %auth = $t->bearer(sub => '110101199001011234', ttl => 100 * $day);

# an application, received by its department, then its states
sub application {
    my (@states) = @_;
    my $res = $t->apply({ fields => { name => '王小宝' },
                          materials => { photo => 'r' } }, headers => \%auth);
    return undef unless $res->{status} == 201;
    my $id = $res->{json}{id};
    $t->wait_for(sub { ($t->get("/progress/$id", headers => \%auth)
                          ->{json}{steps}[0]{state} // '') eq 'received' },
                 10);
    for my $s (@states) {
        my $st = $t->callback($id, 'nhc', { state => $s }, ts => $t->now)
                   ->{status};
        return undef unless $st == 204;
    }
    return $id;
}

my @final = map { application(qw(accepted approved)) } 1 .. 2;
my $open = application('accepted');
ok(!grep({ !defined } @final, $open), 'two final applications, one open');

# every write on the replica before the master goes
ok($t->wait_for(sub { ($t->redis_cmd('WAIT', 1, 500) // 0) >= 1 }, 20),
   'the replica holds every write');
$t->stop_redis('redis');
ok($t->wait_for(sub {
        my $role = eval { $t->redis_cmd({ name => 'replica' }, 'ROLE') };
        ref $role eq 'ARRAY' && $role->[0] eq 'master';
    }, 20), 'the master killed: the sentinels promote the replica');
my $later;
ok($t->wait_for(sub { $later = application(qw(accepted approved)) }, 20),
   'one more made final through the promoted master');
push @final, $later;

sub on_new { $t->redis_cmd({ name => 'replica' }, @_) }

for my $id (@final) {
    ok(defined on_new('ZSCORE', 'gov:final', $id), "$id kept for retention");
}
is(on_new('ZSCORE', 'gov:final', $open), undef, "$open, open, is not");

$t->fake_time(time + 31 * $day);

for my $id (@final) {
    ok($t->wait_for(sub { !on_new('EXISTS', "gov:app:$id") }, 30),
       "$id left Redis, 31 days on");
    my $res = $t->get("/progress/$id", headers => \%auth);
    is($res->{status}, 200, '  read back from the archive');
    is($res->{json}{id}, $id, '  the same');
}
is(on_new('EXISTS', "gov:app:$open"), 1, "$open, open, stays");

my ($docs) = $t->archived;
is_deeply([ sort keys %$docs ], [ sort @final ],
          'the archive holds those that left, once each');

$t->done;
done_testing();
