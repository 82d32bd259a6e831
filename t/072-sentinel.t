#!/usr/bin/perl

# gov_redis sentinel=... master=NAME (CONTRACT section 14): the master is
# asked of the sentinels in turn and confirmed with ROLE; when it dies and
# the sentinels promote its replica, every worker finds the new master
# without a reload, a sentinel down leaves the others to answer, and the
# old master back as a replica is never written to.  nginx -t catches the
# parameters that do not go together.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;
use Time::HiRes qw(time);

my $t = GovTest->new;
$t->start_redis;
$t->start_redis(name => 'replica', replica_of => 'redis');
my @sentinels = map { $t->start_sentinel(name => "s$_", monitor => 'redis') }
                1 .. 3;
my $list = join ',', map { "127.0.0.1:$_" } @sentinels;

sub redis_line { "    gov_redis $_[0] timeout=2s;\n" }

$t->world(redis => 0, start => 0,
          server => "    location = /gov/health { gov_health; }\n");

# --- nginx -t ---------------------------------------------------------------

for my $bad ([ "sentinel=$list", qr/needs "master=NAME"/ ],
             [ "127.0.0.1:6379 master=mymaster",
               qr/"master=" and "sentinel_password_file=" of gov_redis need "sentinel="/ ],
             [ 'sentinel= master=m', qr/invalid sentinel address|names no sentinel/ ],
             [ 'sentinel=127.0.0.1:99999 master=m', qr/invalid sentinel address/ ]) {
    $t->write_world(redis_line => redis_line($bad->[0]));
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t refuses gov_redis $bad->[0]");
    like($out, $bad->[1], '... saying why');
}
$t->write_file('logs/error.log', '');

# --- sentinels unreachable at start: nginx runs and fails fast -------------------

{
    my $none = join ',', map { '127.0.0.1:' . $t->free_port } 1 .. 3;
    $t->write_world(redis_line => redis_line("sentinel=$none master=mymaster"));
    $t->start_nginx;
    my $t0 = time;
    my $res = $t->get('/gov/health');
    is($res->{status}, 503, 'no sentinel answers: nginx runs, health 503');
    my $token = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                          sub => '110101199001011234');
    $res = $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => { name => '王小宝' },
                                          materials => { photo => 'r' } }),
                    headers => { 'Content-Type' => 'application/json',
                                 Authorization => "Bearer $token" });
    is($res->{status}, 503, '... a submission 503');
    ok($res->{headers}{'retry-after'}, '... with Retry-After');
    cmp_ok(time - $t0, '<', 2, '... at once, not after a timeout');
    $t->stop_nginx;
}

# the sentinels know each other before the test relies on them
ok($t->wait_for(sub {
    my $r = $t->redis_cmd({ name => 's1' }, 'SENTINEL', 'sentinels',
                          'mymaster');
    ref $r eq 'ARRAY' && @$r == 2 }, 15), 'the three sentinels know each other');

$t->write_world(redis_line => redis_line("sentinel=$list master=mymaster"));
$t->start_nginx;

ok($t->wait_for(sub { $t->get('/gov/health')->{status} == 200 }, 10),
   'connected to the master the sentinels name');
my $mport = $t->redis_port('redis');
like($t->error_log, qr/sentinel 127\.0\.0\.1:\d+: master "mymaster" is 127\.0\.0\.1:$mport/,
     'the log says where the master is');

my $token = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234');
my %auth = (Authorization => "Bearer $token");

sub submit {
    return $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => { name => '王小宝' },
                                          materials => { photo => 'ref-1' } }),
                    headers => { 'Content-Type' => 'application/json',
                                 %auth });
}

my @ids;
for (1 .. 3) {
    my $res = submit();
    is($res->{status}, 201, "submission $_ through the sentinels' master");
    push @ids, $res->{json}{id};
}
is($t->redis_cmd('EXISTS', "gov:app:$ids[0]"), 1, '... on the master');
ok($t->wait_for(sub { $t->redis_cmd({ name => 'replica' }, 'EXISTS',
                                    "gov:app:$ids[-1]") == 1 }, 5),
   '... and replicated');

# --- a sentinel down, then the master killed -----------------------------------

$t->stop_redis('s1');
$t->stop_redis('redis');
my $rport = $t->redis_port('replica');

ok($t->wait_for(sub {
    my $r = eval { $t->redis_cmd({ name => 's2' }, 'SENTINEL',
                                 'get-master-addr-by-name', 'mymaster') };
    ref $r eq 'ARRAY' && $r->[1] == $rport }, 20),
   'the two sentinels left promote the replica');

my ($status, $tries, $new) = (0, 0);
ok($t->wait_for(sub {
    $tries++;
    my $res = submit();
    $status = $res->{status};
    $new = $res->{json}{id} if $status == 201;
    $status == 201 }, 15),
   "submissions go on, on the new master, without a reload ($tries tries)");
cmp_ok($status, '==', 201, 'a 201');
is($t->redis_cmd({ name => 'replica' }, 'EXISTS', "gov:app:$new"), 1,
   'the application is on the promoted replica');
for my $id (@ids) {
    # each worker finds the master on its own: one may still be at it
    ok($t->wait_for(sub {
        $t->get("/progress/$id", headers => \%auth)->{status} == 200 }, 10),
       "the application $id from before the failover is there");
}
like($t->error_log, qr/master "mymaster" is 127\.0\.0\.1:$rport/,
     'the log names the new master');

# --- the old master back: a replica now, never written to ----------------------

$t->start_redis(name => 'redis');
ok($t->wait_for(sub {
    my $r = eval { $t->redis_cmd('ROLE') };
    ref $r eq 'ARRAY' && $r->[0] eq 'slave' }, 20),
   'the old master comes back as a replica');

for (1 .. 3) {
    my $res = submit();
    is($res->{status}, 201, "submission $_ after the old master is back");
    is($t->redis_cmd({ name => 'replica' }, 'EXISTS',
                     "gov:app:$res->{json}{id}"), 1,
       '... written to the new master');
}

$t->done;
done_testing();
