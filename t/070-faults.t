#!/usr/bin/perl

# Faults not covered elsewhere (t/010-redis.t: Redis killed, paused, hung,
# garbage; t/040-progress.t: Redis full; t/030-bundles.t: departments
# down, slow, answering garbage or 2xx without a receipt):
#
# - Redis restarted empty: no 500, sessions end cleanly (401, a browser is
#   sent to log in), lost applications are 404, new ones get ids above
#   those already issued (never an id a department already knows), and
#   everything recovers without a reload;
# - a department that resets the connection in the middle of its answer:
#   the step stays queued, the other departments are not held up, and the
#   retry delivers it once;
# - a department's 2xx that comes while Redis is down is recorded once
#   Redis is back, not sent to the department again after the lease.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use GovTest;

my $t = GovTest->new;

# nhc (the world's "dept") answers after 1.2 s while the file "nhc.slow"
# exists; cdc resets mid-answer while the file "cdc.reset" exists
my $slow = "$t->{prefix}/nhc.slow";
my $flag = "$t->{prefix}/cdc.reset";
$t->world(
    start => 0,
    dept => sub {
        my ($req) = @_;
        return { status => 200, delay => (-e $slow ? 1.2 : 0),
                 body => encode_json({ receipt =>
                     "NHC-$req->{headers}{'x-gov-application'}" }) };
    },
    backends => { cdc => sub {
        my ($req) = @_;
        return { reset => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          . "Content-Length: 40\r\n\r\n{\"rece" } if -e $flag;
        return { status => 200, body => encode_json({ receipt =>
                     "CDC-$req->{headers}{'x-gov-application'}" }) };
    } },
    redis_line => "    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=1s connect_timeout=1s;\n",
    bundles => GovTest::newborn(items => [qw(nhc cdc)], at => { cdc => 'cdc' },
                                material => 'id_card "身份证"'),
    http => <<'EOF', server => <<'EOF');
    gov_session_cookie GOVSID insecure;
    gov_dispatch_timeout 2s;
EOF
    location = /auth/login { gov_login; }
    location = /gov/status { gov_status; }
    location = /gov/health { gov_health; }
    location = /me.txt { gov_auth required; root %%PREFIX%%/html; }
EOF
$t->write_file('html/me.txt', "you\n");
$t->start_nginx;

my $tok = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                    sub => '110101199001011234');
my %bearer = (Authorization => "Bearer $tok");

sub submit {
    my (%h) = @_;
    return $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => { name => '张三' },
                                          materials => { id_card => 'r' } }),
                    headers => { 'Content-Type' => 'application/json',
                                 %bearer, %h });
}

sub step {
    my ($id, $item) = @_;
    my $s = $t->redis_cmd('HGET', "gov:steps:$id", $item);
    return defined $s && !ref $s ? decode_json($s) : {};
}

sub deliveries {
    my ($name, $id) = @_;
    return scalar grep { ($_->{headers}{'x-gov-application'} // '') eq $id }
                  $t->backend_requests($name);
}

# --- Redis restarted empty ----------------------------------------------------

my $res = $t->post('/auth/login', body => encode_json({ token => $tok }),
                   headers => { 'Content-Type' => 'application/json' });
my ($sid) = ($res->{headers}{'set-cookie'} // '') =~ /^(GOVSID=[^;]+)/;
ok($sid, 'a session');
is($t->get('/me.txt', headers => { Cookie => $sid })->{status}, 200, 'it works');

my @before = map { submit()->{json}{id} } 1 .. 3;
like($before[2], qr/^NB\d{8}000003$/, 'three applications');
ok($t->wait_for(sub { step($before[2], 'cdc')->{state} eq 'received' }),
   'delivered');

$t->stop_redis;
$t->start_redis;        # same port, no data
ok($t->wait_for(sub { $t->get('/gov/health')->{status} == 200 }, 15),
   'Redis back, empty: reconnected without a reload');

$res = $t->get('/me.txt', headers => { Cookie => $sid });
is($res->{status}, 401, 'the lost session: 401, not 500 or 503');
like($res->{content}, qr/"reason":"session_expired"/, 'as an expired session');
$res = $t->get('/me.txt', headers => { Cookie => $sid, Accept => 'text/html' });
isnt($res->{status}, 500, 'a browser with the lost session is not served a 500');

$res = $t->get("/progress/$before[0]", headers => \%bearer);
is($res->{status}, 404, 'a lost application: 404');

$res = submit();
is($res->{status}, 201, 'a new submission is accepted');
my $new = $res->{json}{id} // '';
like($new, qr/^NB\d{8}000004$/,
     'its id continues above the ids issued before (no id reused)');
ok(!grep({ $_ eq $new } @before), 'not one a department already knows');
ok($t->wait_for(sub { step($new, 'nhc')->{state} eq 'received'
                      && step($new, 'cdc')->{state} eq 'received' }),
   'and delivered');
is($t->get("/progress/$new", headers => \%bearer)->{status}, 200,
   'its progress answers');

$res = $t->post('/auth/login', body => encode_json({ token => $tok }),
                headers => { 'Content-Type' => 'application/json' });
is($res->{status}, 200, 'logging in again works');

# --- a department resets mid-answer --------------------------------------------

$t->write_file('cdc.reset', '');
$res = submit();
is($res->{status}, 201, 'submitted while cdc resets mid-answer');
my $rid = $res->{json}{id};
my %steps = map { $_->{item} => $_->{state} } @{ $res->{json}{steps} || [] };
is($steps{nhc}, 'received', 'nhc is not held up');
is($steps{cdc}, 'queued', 'cdc stays queued, nothing is taken from half an answer');
ok($t->wait_for(sub { deliveries('cdc', $rid) >= 2 }, 10),
   'and is retried');
is(step($rid, 'cdc')->{state}, 'queued', 'still queued while it resets');

unlink $flag;
ok($t->wait_for(sub { step($rid, 'cdc')->{state} eq 'received' }, 20),
   'delivered once the department answers whole');
is(step($rid, 'cdc')->{receipt}, "CDC-$rid", 'with its receipt');
my $n = deliveries('cdc', $rid);
sleep 2.5;
is(deliveries('cdc', $rid), $n, 'and never sent again');
is(deliveries('dept', $rid), 1, 'nhc got it exactly once');

# --- a department's answer while Redis is away --------------------------------
#
# Redis (appendfsync always: it comes back with its data) is killed while
# nhc holds a step; nhc answers 2xx while Redis is down.  The worker keeps
# that outcome and records it once Redis is back, at once, not when the
# step's lease runs out and the department would get it a second time.

$t->stop_redis;
$t->start_redis(args => [ '--appendonly', 'yes', '--appendfsync', 'always' ]);
ok($t->wait_for(sub { $t->get('/gov/health')->{status} == 200 }, 15),
   'Redis back, with an append-only file');

$t->write_file('nhc.slow', '');
my $before = () = $t->backend_requests('dept');
my $kid = fork // die "fork: $!";
if ($kid == 0) {
    my $r = submit();
    $t->write_file('slow.id', $r->{status} == 201 ? $r->{json}{id} : '');
    POSIX::_exit(0);
}
ok($t->wait_for(sub { my $n = () = $t->backend_requests('dept');
                      $n > $before }, 5),
   'nhc holds the step');
$t->stop_redis;
sleep 1.6;
$t->start_redis(args => [ '--appendonly', 'yes', '--appendfsync', 'always' ]);
my $back = time;
waitpid $kid, 0;
my $slow_id = $t->read_file('slow.id');
like($slow_id, qr/^NB\d{14}$/, 'the submission was acknowledged before Redis went');
unlink $slow;
ok($t->wait_for(sub { step($slow_id, 'nhc')->{state} eq 'received' }, 8),
   sprintf('the answer nhc gave while Redis was down is recorded once it '
           . 'is back (%.1fs)', time - $back));
is(step($slow_id, 'nhc')->{receipt}, "NHC-$slow_id", '... with its receipt');
like($t->error_log, qr{outcome of $slow_id/nhc recorded after \d+ ms},
     '... and the log says so');
sleep 1.5;
is(deliveries('dept', $slow_id), 1, 'nhc got the step exactly once');

# --- no 500 through all of it ---------------------------------------------

my $m = $t->metrics;
my @five = grep { /code="500"/ && $m->{$_} } keys %$m;
ok(!@five, 'no 500 answered') or diag(join ', ', @five);

$t->done(allow => [ qr/upstream prematurely closed|recv\(\) failed/ ]);
done_testing();
