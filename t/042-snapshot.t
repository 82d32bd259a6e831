#!/usr/bin/perl

# The progress snapshot in Redis (no micro-cache here): a lookup writes
# the applicant's rendered document, the next ones read it with one GET;
# every change (callback, dispatch result, rating) drops it in the same
# script; access is checked on every hit; a snapshot of another day, a
# malformed one or one written after a change is never served.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;

my $t = GovTest->world(
    dept => sub {
        my ($req) = @_;
        return { status => 200, body => encode_json({
            receipt => 'R-' . ($req->{headers}{'x-gov-application'} // '') }) };
    },
    server => "    location = /gov/status { gov_status; }\n");

my %tok = (zhang => $t->citizen, li => $t->citizen('310101198505052345'));
my $agent = $t->citizen(undef, act => 'AGENT-1');

my $res = $t->post('/bundles/newborn/applications',
                   body => encode_json({ fields => { name => 'x' },
                                         materials => { photo => 'r' } }),
                   headers => { 'Content-Type' => 'application/json',
                                Authorization => "Bearer $tok{zhang}" });
my $id = $res->{json}{id};
ok($t->wait_for(sub {
    ($t->redis_cmd('HGET', "gov:steps:$id", 'nhc') // '') =~ /received/ }),
   'delivered');

sub look { $t->get("/progress/$id", headers => { Authorization => "Bearer $_[0]" }) }
sub snap { $t->redis_cmd('GET', "gov:doc:$id") }
sub hits {
    my $m = $t->metrics;
    return ($m->{'gov_cache_total{cache="progress_snapshot",result="hit"}'} // 0,
            $m->{'gov_cache_total{cache="progress_snapshot",result="miss"}'} // 0);
}

ok(!defined snap(), 'no snapshot before a lookup');
my $first = look($tok{zhang});
is($first->{status}, 200, 'a lookup');
ok($t->wait_for(sub { defined snap() }), 'writes the snapshot');
like(snap(), qr/^G1\t\d+\t110101199001011234\t\t"[0-9a-f]{40}"\n\{/,
     'day, subject, actor, ETag, then the document');
my ($h0) = hits();
my $second = look($tok{zhang});
is($second->{content}, $first->{content}, 'the next lookup: the same document');
is($second->{headers}{etag}, $first->{headers}{etag}, 'and ETag');
my ($h1) = hits();
is($h1, $h0 + 1, 'from the snapshot');
is(look($tok{li})->{status}, 404, 'another citizen: 404, even from the snapshot');
is(look($agent)->{status}, 200, 'an agent acting for the applicant: 200');

# a change drops it at once
is($t->callback($id, 'nhc', { state => 'accepted' })->{status}, 204,
   'a department accepts');
ok(!defined snap(), 'the callback dropped the snapshot');
is(look($tok{zhang})->{json}{steps}[0]{state}, 'accepted', 'the next lookup shows it');

# a snapshot written after a change would be stale: never written
ok($t->wait_for(sub { defined snap() }), 'written again');
$t->redis_cmd('DEL', "gov:doc:$id");
my $ver = $t->redis_cmd('HGET', "gov:app:$id", 'ver');
ok(defined $ver && $ver >= 2, "the application counts its changes (ver $ver)");
$t->redis_cmd('EVAL', "if redis.call('HGET', KEYS[1], 'ver') == ARGV[1] then "
              . "redis.call('SET', KEYS[2], 'x') end return 0", 2,
              "gov:app:$id", "gov:doc:$id", $ver - 1);
ok(!defined snap(), 'the guarded write refuses a version read before a change');

# stale or malformed snapshots are ignored
my $good = look($tok{zhang})->{content};
for my $bad ("G1\t1\t110101199001011234\t\t\"e\"\n{\"fake\":1}",
             "G1\t" . int(time / 86400) . "\t110101199001011234\t\t\"e\"",
             "G2\tnonsense", "G1\tx\ty\tz") {
    $t->redis_cmd('SET', "gov:doc:$id", $bad);
    $res = look($tok{zhang});
    is($res->{content}, $good, 'a stale or malformed snapshot is not served: '
                               . substr($bad =~ s/\n/\\n/r, 0, 30));
}

# a rating drops it too
$t->callback($id, 'nhc', { state => 'approved' });
look($tok{zhang});
ok($t->wait_for(sub { defined snap() && snap() =~ /^G1/ }), 'a snapshot of the approved state');
is($t->post("/progress/$id/rating", body => '{"score":5}',
            headers => { Authorization => "Bearer $tok{zhang}",
                         'Content-Type' => 'application/json' })->{status},
   204, 'rated');
ok(!defined snap(), 'the rating dropped the snapshot');
is(look($tok{zhang})->{json}{rating}{score}, 5, 'the next lookup shows the rating');

$t->done;
done_testing();
