#!/usr/bin/perl

# gov_redis wait=N (CONTRACT section 14): an acknowledgement a citizen or a
# department relies on — submission 201, callback 204, correction,
# withdrawal, rating, upload 201 — goes out only once WAIT says N replicas
# hold the write; fewer in time: 503 with Retry-After, never 500 or a hang,
# and the write is safe to send again (Idempotency-Key). A master with one
# replica, the replica killed and started again.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use GovTest;

my $t = GovTest->new;
$t->start_redis;
$t->start_redis(name => 'replica', replica_of => 'redis');
$t->write_file('conf/links.secret', 'l' x 40);
mkdir $t->prefix . '/store';

sub redis_line {
    return "    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s $_[0];\n";
}

$t->world(redis => 0, start => 0, http => <<'EOF', server => <<'EOF');
    gov_upload_store %%PREFIX%%/store;
    gov_upload_link_secret_file %%PREFIX%%/conf/links.secret;
EOF
    location /uploads/ { gov_upload; }
    location = /gov/status { gov_status; }
EOF

# --- nginx -t ---------------------------------------------------------------

for my $bad ('wait=0', 'wait=17', 'wait=x') {
    $t->write_world(redis_line => redis_line($bad));
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t refuses $bad");
    like($out, qr/invalid redis wait "\Q$bad\E", must be from 1 to 16/,
         '... saying why');
}
$t->write_file('logs/error.log', '');

$t->write_world(redis_line => redis_line('wait=1'));
$t->start_nginx;

ok($t->wait_for(sub { $t->redis_replicas('redis') == 1 }, 10),
   'the replica is in sync');

my $token = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234');
my %auth = (Authorization => "Bearer $token");

sub submit {
    my (%h) = @_;
    return $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => { name => '王小宝' },
                                          materials => { photo => 'ref-1' } }),
                    headers => { 'Content-Type' => 'application/json',
                                 %auth, %h });
}

my $n = 0;
sub callback {
    my ($id, $state) = @_;
    return $t->callback($id, 'nhc', { state => $state, seq => ++$n });
}

my $png = "\x89PNG\r\n\x1a\n" . ("\0" x 64);

# --- with the replica: acknowledged, and on the replica -----------------------

my $res = submit();
is($res->{status}, 201, 'a submission with the replica up: 201');
my $id = $res->{json}{id};
is($t->redis_cmd({ name => 'replica' }, 'EXISTS', "gov:app:$id"), 1,
   '... and the replica holds it when the citizen hears of it');
is(callback($id, 'accepted')->{status}, 204, 'a callback: 204');
$res = $t->post('/uploads/', body => $png,
                headers => { %auth, 'Content-Type' => 'image/png' });
is($res->{status}, 201, 'an upload: 201');
$res = $t->post("/progress/$id/withdrawal", body => '{}',
                headers => { %auth, 'Content-Type' => 'application/json' });
is($res->{status}, 200, 'a withdrawal: 200');
is($t->get("/progress/$id", headers => \%auth)->{status}, 200,
   'reads do not wait');

# --- the replica gone: 503, not 500, not a hang -------------------------------

$t->stop_redis('replica');
ok($t->wait_for(sub { $t->redis_replicas('redis') == 0 }, 10),
   'the replica is gone');

my $t0 = time;
$res = submit('Idempotency-Key' => 'k-1');
my $took = time - $t0;
is($res->{status}, 503, 'a submission without a replica: 503');
ok($res->{headers}{'retry-after'}, '... with Retry-After');
cmp_ok($took, '<', 3, sprintf('... within the timeout (%.1fs)', $took));

$res = submit();
is($res->{status}, 503, 'another: 503');
$res = $t->post('/uploads/', body => $png . 'x',
                headers => { %auth, 'Content-Type' => 'image/png' });
is($res->{status}, 503, 'an upload: 503');

is($t->get("/progress/$id", headers => \%auth)->{status}, 200,
   'lookups still answer');

like($t->get('/gov/status')->{content},
     qr/^gov_redis_errors_total\{kind="unreplicated"\} [1-9]/m,
     'gov_status counts the writes not acknowledged');
like($t->error_log, qr/a write reached 0 of 1 replicas in time, not acknowledged/,
     'and the log says why');

# --- the replica back: the same key again is one application -----------------

$t->start_redis(name => 'replica', replica_of => 'redis');
ok($t->wait_for(sub { $t->redis_replicas('redis') == 1 }, 15),
   'the replica is back in sync');

$res = submit('Idempotency-Key' => 'k-1');
is($res->{status}, 201, 'the same submission again, same key: 201');
my $again = $res->{json}{id};
$res = submit('Idempotency-Key' => 'k-1');
is($res->{json}{id}, $again, '... one application for the key');
is($t->redis_cmd({ name => 'replica' }, 'EXISTS', "gov:app:$again"), 1,
   '... held by the replica');

$t->done;
done_testing();
