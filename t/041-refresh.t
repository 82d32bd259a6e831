#!/usr/bin/perl

# gov_progress_refresh: read-through from the departments' status URIs,
# single-flight across workers, stale-if-error, and only legal moves.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use GovTest;

my $t = GovTest->new;
$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);
$t->write_file('conf/dept.secret', "department-secret-0123456789\n");

my $answer = $t->prefix . '/status.json';
$t->write_file('status.json', '{"state":"received"}');

$t->backend(sub {
    my ($req) = @_;
    if ($req->{method} eq 'GET') {
        open my $fh, '<', $answer or return { status => 503 };
        local $/;
        my $body = <$fh>;
        return $body =~ /^HTTP (\d+)/ ? { status => $1 }
                                      : { status => 200, body => $body };
    }
    my $app = decode_json($req->{body});
    return { status => 200, body => encode_json({ receipt => "R-$app->{id}" }) };
}, name => 'nhc');

$t->write_conf(
    http => <<'EOF',
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_progress_cache zone=progress:1m ttl=10s;
    gov_field name "姓名";
    gov_item nhc {
        name "出生医学证明"; department "卫生健康委";
        backend /internal/nhc; status /internal/status;
        callback_secret_file dept.secret; fields name; time_limit 3;
    }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc;
                         time_limit 10; }
EOF
    server => <<'EOF',
    location /bundles/ { gov_bundles; }
    location /progress/ { gov_progress; gov_progress_refresh 1s; }
    location = /gov/status { gov_status; }
    location /internal/nhc { internal;
                             proxy_pass http://127.0.0.1:%%BACKEND:nhc%%/s; }
    location /internal/status/ { internal;
                                 proxy_pass http://127.0.0.1:%%BACKEND:nhc%%/status/; }
EOF
);
$t->start_nginx;

my $tok = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                    sub => '110101199001011234');
my $res = $t->post('/bundles/newborn/applications',
                   body => encode_json({ fields => { name => 'x' } }),
                   headers => { Authorization => "Bearer $tok",
                                'Content-Type' => 'application/json' });
is($res->{status}, 201, 'submitted');
my $id = $res->{json}{id};

sub state_now {
    my $r = $t->get("/progress/$id", headers => { Authorization => "Bearer $tok" });
    return $r->{status} == 200 ? $r->{json}{steps}[0]{state} : "HTTP $r->{status}";
}

sub status_calls {
    return scalar grep { $_->{method} eq 'GET' } $t->backend_requests('nhc');
}

is(state_now(), 'received', 'received at first');

$t->write_file('status.json', '{"state":"accepted","note":"受理"}');
ok($t->wait_for(sub { state_now() eq 'accepted' }, 10),
   'the department\'s status URI moves the step, even past a 10s micro-cache');
like(join(' ', map { $_->{uri} } grep { $_->{method} eq 'GET' }
          $t->backend_requests('nhc')),
     qr{/status/R-$id}, 'the status URI is asked about the receipt');
my $step = decode_json($t->redis_cmd('HGET', "gov:steps:$id", 'nhc'));
is($step->{state}, 'accepted', 'the new state is stored');
is($step->{note}, "\x{53d7}\x{7406}", 'with its note');
ok($step->{accepted_day}, 'and the acceptance day: the step\'s clock runs');

# single-flight: many lookups when a refresh is due, one question
sleep 1.2;
my $before = status_calls();
my $t0 = time;
my @kids;
for (1 .. 20) {
    my $pid = fork // die;
    if ($pid == 0) {
        $t->get("/progress/$id", headers => { Authorization => "Bearer $tok" });
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;
my $took = time - $t0;
sleep 0.5;

# one question per refresh period (1s) at most, however many lookups
my $allowed = 1 + int($took);
cmp_ok(status_calls() - $before, '<=', $allowed,
       "20 concurrent lookups in ${took}s: the department is asked at most "
       . "$allowed time(s)");

# an illegal move from a status URI is ignored
$t->write_file('status.json', '{"state":"queued"}');
sleep 1.2;
state_now();
sleep 0.5;
is(state_now(), 'accepted', 'an illegal state from a status URI is ignored');
like($t->error_log, qr/status of $id\/nhc says "queued", not a legal move/,
     'and logged');

# stale-if-error
$t->write_file('status.json', 'HTTP 503');
sleep 1.2;
is(state_now(), 'accepted', 'a failing status URI: the last state is served');
sleep 0.5;
is(state_now(), 'accepted', 'still');
like($t->error_log, qr/status of $id\/nhc unavailable/, 'the failure is logged');

$t->write_file('status.json', 'not json');
sleep 1.2;
is(state_now(), 'accepted', 'garbage from a status URI: the last state');

$t->write_file('status.json', '{"state":"approved"}');
ok($t->wait_for(sub { state_now() eq 'approved' }, 10),
   'once the department answers again, the state moves');

$t->done;
done_testing();
