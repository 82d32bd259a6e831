#!/usr/bin/perl

# The progress micro-cache with Redis's client-side caching
# (gov_progress_cache track=): each worker hears from Redis every change of
# a progress snapshot, whoever made it, so an entry read from a snapshot
# outlives the ttl, and a change made on another node (or in Redis itself)
# shows at once rather than after the ttl.  When the reports may have been
# missed (the subscription lost), the entries fall back to the ttl; with
# track=off the ttl is all there is.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use GovTest;

sub cache { "    gov_progress_cache zone=progress:1m ttl=1s$_[0];\n" }

my $a = GovTest->world(
    start => 0,
    redis_line => "    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=1s;\n",
    server => "    location = /gov/status { gov_status; }\n");

sub conf {
    my ($node, $track) = @_;
    return $node->write_world(http => cache($track));
}

# --- nginx -t ---------------------------------------------------------------

for my $bad ([ 'track=0', qr/invalid track "track=0"/ ],
             [ 'track=soon', qr/invalid track "track=soon"/ ],
             [ 'track=2d', qr/invalid track "track=2d", expected a time up to 1d/ ])
{
    conf($a, " $bad->[0]");
    my ($st, $out) = $a->test_conf;
    isnt($st, 0, "nginx -t refuses $bad->[0]");
    like($out, $bad->[1], '... saying why');
}

conf($a, ' track=off');
is(($a->test_conf)[0], 0, 'nginx -t takes track=off');
conf($a, ' track=30m');
is(($a->test_conf)[0], 0, 'nginx -t takes track=30m');

# --- two nodes on one Redis, tracking by default -----------------------------

conf($a, '');
$a->start_nginx;
my $b = $a->node(http => cache(''));

ok($a->wait_for(sub { ($a->metrics->{gov_redis_tracking} // 0) == 2 }, 5),
   'both workers of node A hear Redis report changes');
ok($b->wait_for(sub { ($b->metrics->{gov_redis_tracking} // 0) == 2 }, 5),
   '... and both of node B');
is($a->metrics->{gov_redis_connected}, 2,
   'the commands still have their own connections (one a worker)');

my $token = $a->citizen;
my %auth = (Authorization => "Bearer $token");

my $res = $a->post('/bundles/newborn/applications',
                   body => encode_json({ fields => { name => '王小宝' },
                                         materials => { photo => 'r' } }),
                   headers => { 'Content-Type' => 'application/json', %auth });
is($res->{status}, 201, 'an application');
my $id = $res->{json}{id};

sub state_of {
    my ($node) = @_;
    my $r = $node->get("/progress/$id", headers => \%auth);
    return $r->{status} == 200 ? $r->{json}{steps}[0]{state} : "$r->{status}";
}

sub hits { $_[0]->metrics->{'gov_cache_total{cache="progress",result="hit"}'} // 0 }
sub misses { $_[0]->metrics->{'gov_cache_total{cache="progress",result="miss"}'} // 0 }

# the first lookup renders and writes the snapshot; the next one that
# misses reads the snapshot, and its entry is the tracked kind
is(state_of($a), 'received', 'node A: the step was received');
ok($a->wait_for(sub { $a->redis_cmd('EXISTS', "gov:doc:$id") }, 3),
   'the snapshot is in Redis');
sleep 1.2;
is(state_of($a), 'received', 'looked up again after the ttl (the snapshot)');

# every worker of the node answers from the same zone: ask a few times
# after the ttl, all hits
sleep 1.5;
my ($h0, $m0) = (hits($a), misses($a));
is(state_of($a), 'received', 'after more than the ttl') for 1 .. 4;
is(hits($a) - $h0, 4, '... each lookup a micro-cache hit (tracked entry)');
is(misses($a) - $m0, 0, '... none a miss');

# --- a change on node B shows on node A at once -------------------------------

is(state_of($b), 'received', 'node B reads it too');

my $inv0 = $a->metrics->{'gov_cache_invalidations_total{cache="progress"}'} // 0;
is($b->callback($id, 'nhc', { state => 'accepted' })->{status}, 204,
   'a department tells node B');

my $t0 = time;
ok($a->wait_for(sub { state_of($a) eq 'accepted' }, 3),
   'node A shows it');
cmp_ok(time - $t0, '<', 0.5,
       sprintf('... at once (%.0f ms), not after its ttl', 1000 * (time - $t0)));
cmp_ok($a->metrics->{'gov_cache_invalidations_total{cache="progress"}'} // 0,
       '>', $inv0, "... Redis's report dropped node A's entry");

# --- a change made in Redis itself ------------------------------------------

# the new state renders a new snapshot; wait for its tracked entry
sleep 1.2;
is(state_of($a), 'accepted', 'looked up again: the new snapshot');
sleep 1.2;
($h0, $m0) = (hits($a), misses($a));
is(state_of($a), 'accepted', 'a tracked hit');
is(hits($a) - $h0, 1, '... from the micro-cache');

$a->redis_cmd('DEL', "gov:doc:$id");
sleep 0.2;
($h0, $m0) = (hits($a), misses($a));
is(state_of($a), 'accepted', 'the snapshot deleted in Redis: looked up again');
is(misses($a) - $m0, 1, '... a miss: the entry went with the snapshot');

# an expired snapshot is reported as well
sleep 1.2;
is(state_of($a), 'accepted', 'a snapshot again');
sleep 1.2;
$a->redis_cmd('PEXPIRE', "gov:doc:$id", 50);
sleep 0.3;
($h0, $m0) = (hits($a), misses($a));
is(state_of($a), 'accepted', 'the snapshot expired in Redis: looked up again');
is(misses($a) - $m0, 1, '... a miss');

# --- reports lost: back to the ttl --------------------------------------------

sleep 1.2;
is(state_of($a), 'accepted', 'a snapshot again');
sleep 1.2;
($h0, $m0) = (hits($a), misses($a));
is(state_of($a), 'accepted', 'tracked again');
is(hits($a) - $h0, 1, '... a hit');

# Redis drops the subscribers (both nodes'): what they would have heard
# is lost, so no entry is believed past its ttl any more
my $killed = $a->redis_cmd('CLIENT', 'KILL', 'TYPE', 'pubsub');
cmp_ok($killed, '>=', 4, "Redis dropped the nodes' subscriptions ($killed)");
sleep 1.2;
($h0, $m0) = (hits($a), misses($a));
is(state_of($a), 'accepted', 'after the ttl');
is(misses($a) - $m0, 1, '... a miss: the entry was no longer believed');
ok($a->wait_for(sub { ($a->metrics->{gov_redis_tracking} // 0) == 2 }, 5),
   'the workers subscribed again');
like($a->error_log, qr/gov redis: connection to \S+ closed by Redis/,
     'the lost subscription is logged');

# --- track=off: the ttl only ---------------------------------------------------

conf($a, ' track=off');
$a->stop_nginx;
$a->start_nginx;
sleep 0.3;
is($a->metrics->{gov_redis_tracking} // 0, 0,
   'track=off: no worker subscribes');
is(state_of($a), 'accepted', 'a lookup (the snapshot)');
sleep 1.2;
($h0, $m0) = (hits($a), misses($a));
is(state_of($a), 'accepted', 'after the ttl');
is(misses($a) - $m0, 1, '... a miss');

$b->done;
$a->done(allow => [ qr/invalid track "track=/ ]);
done_testing();
