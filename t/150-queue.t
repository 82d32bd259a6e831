#!/usr/bin/perl

# The waiting room (CONTRACT section 11): gov_queue_zone and gov_queue.
# Admissions at "rate" shared through Redis; beyond it a ticket and a place
# in line, in arrival order; a browser gets the waiting page (it refreshes
# itself, shows the place and the wait), any other client 429 JSON with
# Retry-After; a pass (signed cookie) lets its holder through without
# Redis; a forged, expired or other zone's pass gets a ticket; a ticket not
# seen for a minute is dropped and holds nobody back; two nodes share one
# line and one key; a reload keeps everybody's place; max_wait turns
# newcomers away with 503; Redis down lets visitors pass, counted.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(hmac_sha256_hex);
use Time::HiRes qw(time sleep);
use Encode qw(decode_utf8);
use GovTest;

my $t = GovTest->new;
$t->start_redis;

my $http = <<'EOF';
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_templates %%ROOT%%/templates;
    gov_queue_zone peak rate=2/s session=10m;
    gov_queue_zone slow rate=1/m max_wait=30s;
    gov_queue_zone brisk rate=10/s;
EOF
my $server = <<'EOF';
    root %%PREFIX%%/html;
    location /peak/ { gov_queue peak; }
    location /slow/ { gov_queue slow; }
    location /brisk/ { gov_queue brisk; }
    location /open/ { }
    location = /status { gov_status; }
EOF
$t->write_file('html/peak/index.html', "inside\n");
$t->write_file('html/slow/index.html', "slow inside\n");
$t->write_file('html/open/index.html', "open\n");
$t->write_file('html/brisk/index.html', "brisk inside\n");

# --- nginx -t ---------------------------------------------------------------

for my $bad (
    [ 'gov_queue_zone z;', qr/invalid number of arguments/ ],
    [ 'gov_queue_zone z session=1m;', qr/gov_queue_zone "z" needs "rate=N\/s"/ ],
    [ 'gov_queue_zone z rate=0/s;', qr/invalid rate "rate=0\/s"/ ],
    [ 'gov_queue_zone z rate=5;', qr/invalid rate "rate=5"/ ],
    [ 'gov_queue_zone z rate=5/s session=x;', qr/invalid session time "x"/ ],
    [ 'gov_queue_zone z rate=5/s max_wait=0;', qr/invalid max_wait "0"/ ],
    [ 'gov_queue_zone z rate=5/s size=1;', qr/invalid parameter "size=1"/ ],
    [ 'gov_queue_zone "a b" rate=5/s;', qr/may hold only letters/ ],
    [ 'gov_queue_zone peak rate=5/s;', qr/gov_queue_zone "peak" is already defined/ ])
{
    $t->write_conf(http => "$http    $bad->[0]\n", server => $server);
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t refuses $bad->[0]");
    like($out, $bad->[1], '... saying why');
}
{
    $t->write_conf(http => $http,
                   server => "$server    location /x/ { gov_queue nosuch; }\n");
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, 'nginx -t refuses an unknown zone');
    like($out, qr/unknown waiting room "nosuch"/, '... saying why');

    (my $h = $http) =~ s/^\s*gov_redis.*\n//m;
    $t->write_conf(http => $h, server => $server);
    ($rc, $out) = $t->test_conf;
    isnt($rc, 0, 'nginx -t refuses a waiting room without gov_redis');
    like($out, qr/gov_queue_zone needs gov_redis/, '... saying why');
}
$t->write_file('logs/error.log', '');

$t->write_conf(http => $http, server => $server);
$t->start_nginx;

sub cookie_of {
    my ($res) = @_;
    my $c = $res->{headers}{'set-cookie'} // '';
    $c = join ',', @$c if ref $c;
    return $c =~ /(GOVQ_\w+=[^;]+)/ ? $1 : undef;
}

# --- within the rate: in, with a pass -----------------------------------------

my @pass;
for (1 .. 2) {
    my $res = $t->get('/peak/');
    is($res->{status}, 200, "visitor $_ within the rate is let in");
    is($res->{content}, "inside\n", '... to the page');
    my $c = cookie_of($res);
    like($c, qr/^GOVQ_peak=p\.\d+\.[0-9a-f]{64}$/, '... with a pass');
    push @pass, $c;
}
like($t->get('/peak/')->{headers}{'set-cookie'} // '', qr/HttpOnly; SameSite=Lax/,
     'the cookie is HttpOnly and SameSite');

# --- beyond it: a ticket, 429 JSON, Retry-After ------------------------------

my $res = $t->get('/peak/');
my $first = cookie_of($res);
if ($res->{status} == 200) {
    # the bucket refilled meanwhile: one more in, then the line starts
    $res = $t->get('/peak/');
    $first = cookie_of($res);
}
is($res->{status}, 429, 'beyond the rate: 429');
like($first, qr/^GOVQ_peak=t\.\d+\.[0-9a-f]{32}$/, '... and a ticket');
ok($res->{json} && $res->{json}{position} >= 1, "... its place in line ($res->{json}{position})");
ok($res->{json}{eta} >= 1, "... and the estimated wait ($res->{json}{eta} s)");
like($res->{headers}{'retry-after'} // '', qr/^\d+$/, '... Retry-After');
is($res->{headers}{'cache-control'}, 'no-store', '... not to be cached');

# a pass goes on without asking Redis (Redis paused: still in at once)
$t->signal_redis('STOP');
my $t0 = time;
$res = $t->get('/peak/', headers => { Cookie => $pass[0] });
my $took = time - $t0;
$t->signal_redis('CONT');
is($res->{status}, 200, 'a pass lets its holder in while Redis is paused');
cmp_ok($took, '<', 0.5, sprintf('... without waiting for Redis (%.2fs)', $took));

# --- the ticket holder comes back and is let in --------------------------------

my ($in, $tries) = (0, 0);
ok($t->wait_for(sub {
    $tries++;
    my $r = $t->get('/peak/', headers => { Cookie => $first });
    $in = $r if $r->{status} == 200;
    $in }, 10), "the ticket holder is let in in turn ($tries looks)");
like(cookie_of($in), qr/^GOVQ_peak=p\./, '... with a pass');

# --- a browser gets the waiting page ----------------------------------------

sleep 1.5;
$t->get('/peak/') for 1 .. 3;     # the bucket is empty again
$res = $t->get('/peak/', headers => { Accept => 'text/html' });
is($res->{status}, 200, 'a browser that must wait gets 200');
like($res->{headers}{'content-type'}, qr{text/html}, '... a page');
$res->{content} = decode_utf8($res->{content});
like($res->{content}, qr/<meta http-equiv="refresh" content="\d+">/,
     '... that refreshes itself');
like($res->{content}, qr/您现在排在第 <strong class="big">\d+<\/strong> 位/,
     '... saying the place in line');
like($res->{content}, qr/预计还要等/, '... and the wait');
like($res->{content}, qr/<html lang="zh-CN">/, '... in Chinese');
unlike($res->{content}, qr/<script/, '... without JavaScript');

# --- in arrival order --------------------------------------------------------

sleep 3;    # the line empties (the page's ticket is dropped by nobody:
            # it stays until let in or a minute passes)
my @line;
for my $n (1 .. 6) {
    my $r = $t->get('/peak/');
    push @line, [ $n, cookie_of($r) ] if $r->{status} == 429;
}
cmp_ok(scalar @line, '>=', 3, scalar(@line) . ' visitors wait in line');
my @admitted;
my $end = time + 15;
while (@admitted < @line && time < $end) {
    # everybody looks again, the last first: order is the line's, not theirs
    for my $v (reverse @line) {
        next if $v->[2];
        my $r = $t->get('/peak/', headers => { Cookie => $v->[1] });
        if ($r->{status} == 200) {
            $v->[2] = 1;
            push @admitted, $v->[0];
        }
    }
    sleep 0.1;
}
is_deeply(\@admitted, [ map { $_->[0] } @line ],
          'they are let in in the order they came');

# --- forged, expired and other zones' passes get tickets ---------------------

my $key = $t->redis_cmd('HGET', 'gov:queue:{peak}:s', 'key');
like($key, qr/^[0-9a-f]{32}$/, "the zone's key is in Redis");
my (undef, $val) = split /=/, $pass[0], 2;
(my $forged = $val) =~ s/(.)$/$1 eq 'a' ? 'b' : 'a'/e;
my $exp = time - 10;
$exp = int $exp;
my $expired = "p.$exp." . hmac_sha256_hex("$exp.peak", $key);
my $later = int(time) + 3600;
my $good = "p.$later." . hmac_sha256_hex("$later.peak", $key);
sleep 1.5;
$t->get('/peak/') for 1 .. 3;
for my $c ([ 'a forged pass', "GOVQ_peak=$forged" ],
           [ 'an expired pass', "GOVQ_peak=$expired" ],
           [ "another zone's pass", "GOVQ_peak=p.$later."
                 . hmac_sha256_hex("$later.slow", $key) ],
           [ 'a forged ticket', 'GOVQ_peak=t.1.0123456789abcdef0123456789abcdef' ])
{
    my $r = $t->get('/peak/', headers => { Cookie => $c->[1] });
    is($r->{status}, 429, "$c->[0] gets a ticket, not a pass");
    like(cookie_of($r) // '', qr/^GOVQ_peak=t\./, '... a new ticket');
}
is($t->get('/peak/', headers => { Cookie => "GOVQ_peak=$good" })->{status}, 200,
   'a pass made with the zone\'s key is good (the test can make one)');

# --- an abandoned ticket holds nobody back ------------------------------------

sleep 4;    # the line above is let in or stays; start afresh
$t->redis_cmd('DEL', map { "gov:queue:{peak}:$_" } qw(order rel seen tok));
$t->get('/peak/') for 1 .. 3;
my $gone = cookie_of($t->get('/peak/'));
my $next = cookie_of($t->get('/peak/'));
my ($gnum) = $gone =~ /t\.(\d+)\./;
ok($gnum, "two tickets: $gone, $next");
# the first is not seen for a minute (its last look moved back in Redis)
$t->redis_cmd('ZADD', 'gov:queue:{peak}:seen', int(time * 1000) - 61_000, $gnum);
my $before = $t->metrics('/status')->{'gov_queue_dropped_total{zone="peak"}'} // 0;
ok($t->wait_for(sub {
    $t->get('/peak/', headers => { Cookie => $next })->{status} == 200 }, 5),
   'the one behind an abandoned ticket is let in');
cmp_ok($t->metrics('/status')->{'gov_queue_dropped_total{zone="peak"}'}, '>',
       $before, 'the abandoned ticket is counted as dropped');
is($t->redis_cmd('HEXISTS', 'gov:queue:{peak}:tok', $gnum), 0,
   '... and gone from Redis');
$res = $t->get('/peak/', headers => { Cookie => $gone });
isnt(cookie_of($res) // '', $gone, 'coming back, it gets a new ticket');

# --- max_wait: newcomers turned away -----------------------------------------

is($t->get('/slow/')->{status}, 200, 'rate 1/m: the first is let in');
$res = $t->get('/slow/');
is($res->{status}, 503, 'the next would wait past max_wait: 503');
is($res->{json}{error}, 'queue_full', '... queue_full');
ok($res->{json}{eta} > 30, "... with the wait it would have had ($res->{json}{eta} s)");
ok($res->{headers}{'retry-after'}, '... and Retry-After');
is(cookie_of($res), undef, '... and no ticket');
$res = $t->get('/slow/', headers => { Accept => 'text/html' });
is($res->{status}, 503, 'a browser too');
$res->{content} = decode_utf8($res->{content});
like($res->{content}, qr/排队已满/, '... told in Chinese');

is($t->get('/open/')->{status}, 200, 'locations without gov_queue are open');

# --- the figures ---------------------------------------------------------------

my $m = $t->metrics('/status');
cmp_ok($m->{'gov_queue_admitted_total{zone="peak"}'}, '>=', 6,
       'gov_status: admitted');
cmp_ok($m->{'gov_queue_tickets_total{zone="peak"}'}, '>=', 6, '... tickets');
is($m->{'gov_queue_full_total{zone="slow"}'}, 2, '... turned away');
ok(exists $m->{'gov_queue_waiting{zone="peak"}'}, '... waiting');
ok(exists $m->{'gov_queue_wait_seconds{zone="peak"}'}, '... the current wait');

# --- a reload keeps every place, and the pass --------------------------------

sleep 1.5;
$t->get('/peak/') for 1 .. 3;
my @keep = map { cookie_of($t->get('/peak/')) } 1 .. 2;
my $pos = $t->get('/peak/', headers => { Cookie => $keep[1] })->{json}{position};
$t->reload;
$res = $t->get('/peak/', headers => { Cookie => $keep[1] });
ok($res->{status} == 200 || $res->{json}{position} <= $pos,
   "after a reload the place is kept ($pos, then "
   . ($res->{json}{position} // 'in') . ')');
is($t->get('/peak/', headers => { Cookie => "GOVQ_peak=$good" })->{status}, 200,
   '... and so is a pass');

# --- the line moves in real time, whether anybody looks or not ---------------
#
# Sixty visitors arrive at a 10/s zone at once and leave, never to come
# back.  Six seconds later their turns have come and gone: a newcomer is
# not held behind their tickets (it waited ~5 s behind fifty of them when
# credit stopped at a second's worth while nobody looked).

my @gone = map { $t->get('/brisk/')->{status} } 1 .. 60;
cmp_ok(scalar(grep { $_ == 429 } @gone), '>=', 40,
       'sixty at once: most get a ticket (' . scalar(grep { $_ == 429 } @gone)
       . '), and leave');
sleep 6;
$t0 = time;
$res = $t->get('/brisk/');
my $wait = $res->{status} == 200 ? 0 : $res->{json}{eta};
my $cookie = cookie_of($res);
$t->wait_for(sub {
    $res = $t->get('/brisk/', headers => { Cookie => $cookie });
    $res->{status} == 200 }, 3) if $res->{status} != 200;
is($res->{status}, 200, 'a newcomer after their turns is let in');
cmp_ok(time - $t0, '<=', 1.2, sprintf('... within a second (%.2f s, '
                                      . 'estimated %s s)', time - $t0, $wait));

# and a second's worth is all an empty line keeps: no burst after a pause
sleep 2;
my @after = map { $t->get('/brisk/')->{status} } 1 .. 30;
cmp_ok(scalar(grep { $_ == 200 } @after), '<=', 12,
       'after a pause, an empty line lets in about a second\'s worth at once ('
       . scalar(grep { $_ == 200 } @after) . ' of 30)');

# --- two nodes, one line --------------------------------------------------------

my $b = GovTest->new;
$b->{redis}{redis} = { port => $t->redis_port };
$b->write_file('html/peak/index.html', "inside B\n");
$b->write_conf(http => $http, server => $server);
$b->start_nginx;
is($b->get('/peak/', headers => { Cookie => "GOVQ_peak=$good" })->{status}, 200,
   'node B takes the pass node A gave (one key, from Redis)');
sleep 1.5;
$t->get('/peak/') for 1 .. 3;
my ($na) = cookie_of($t->get('/peak/')) =~ /t\.(\d+)\./;
my ($nb) = cookie_of($b->get('/peak/')) =~ /t\.(\d+)\./;
is($nb, $na + 1, 'tickets from both nodes are one sequence');

# --- Redis down: visitors pass, counted ---------------------------------------

$t->stop_redis;
$res = $t->get('/peak/');
is($res->{status}, 200, 'Redis down: a visitor passes');
cmp_ok($t->metrics('/status')->{'gov_queue_unchecked_total{zone="peak"}'},
       '>=', 1, '... counted');

$b->done;
$t->done;
done_testing();
