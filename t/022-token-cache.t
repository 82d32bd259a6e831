#!/usr/bin/perl

# The verified-token cache: a hash table per worker, least recently used
# out; an entry keeps who the token names and its times, and the claims
# are parsed from the token again when $gov_claim_* or another location's
# policy needs them.  One worker, a cache of two, exact hits and misses.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use GovTest;

my $t = GovTest->new;
$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);

# a content handler after the access phase ("return" would answer before)
$t->backend(sub { return { status => 204 } }, name => 'ok');

$t->write_conf(workers => 1, http => <<'EOF', server => <<'EOF');
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_jwt_cache 2;
EOF
    location = /gov/status { gov_status; }
    location /who {
        gov_auth required;
        add_header X-Sub "$gov_subject" always;
        add_header X-Actor "$gov_actor" always;
        add_header X-Dept "$gov_claim_dept" always;
        proxy_pass http://127.0.0.1:%%BACKEND:ok%%;
    }
    location /strict {
        gov_auth required;
        gov_jwt_require sub exp dept;
        add_header X-Sub "$gov_subject" always;
        proxy_pass http://127.0.0.1:%%BACKEND:ok%%;
    }
EOF
$t->start_nginx;

my %tok;
for my $who (qw(A B C)) {
    $tok{$who} = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                           sub => "11010119900101000$who", act => "AGENT-$who",
                           claims => qq({"dept":"科室$who"}));
}
$tok{D} = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                    sub => '11010119900101000D');

sub who {
    my ($who, $path) = @_;
    return $t->get($path // '/who',
                   headers => { Authorization => "Bearer $tok{$who}" });
}

sub counts {
    my $m = $t->metrics;
    return ($m->{'gov_cache_total{cache="jwt",result="hit"}'} // 0,
            $m->{'gov_cache_total{cache="jwt",result="miss"}'} // 0);
}

# A B A C B C A: with room for two, least recently used out
for my $who (qw(A B A C B C A)) {
    my $res = who($who);
    is($res->{status}, 204, "$who is let in");
    is($res->{headers}{'x-sub'}, "11010119900101000$who",
       "$who: the subject, hit or miss");
    is($res->{headers}{'x-actor'}, "AGENT-$who", "$who: the actor");
    is($res->{headers}{'x-dept'}, "科室$who",
       "$who: \$gov_claim_dept, parsed from the token on a hit");
}

# the counters are shared memory, written before each answer went out
$t->wait_for(sub { my @c = counts(); $c[0] + $c[1] >= 7 }, 5);
my ($hits, $misses) = counts();
is($hits, 2, 'hits: the second A and the second C');
is($misses, 5, 'misses: A, B, C, B after it was evicted, A after it was');

# a location with another policy checks a cached token again
is(who('A', '/strict')->{status}, 204, 'the stricter location lets A in');
is(who('D', '/who')->{status}, 204, 'D has no dept claim but /who lets it in');
my $res = who('D', '/strict');
is($res->{status}, 401, 'the stricter location refuses D, though cached');
is($res->{json}{reason}, 'missing_claim', 'because its dept claim is missing');

$t->done;
done_testing();
