#!/usr/bin/perl

# Redis restarted under a burst (its append-only file on): the workers
# learn that Redis is back when the first request asks, not when their
# reconnect backoff (up to 2 s) runs out, and a Redis still loading its
# data (-LOADING) holds the commands instead of failing them.  Each case
# sends 100 submissions at once to two workers; every one is 201 and
# every acknowledged application is in Redis afterwards.  GOV_BURST_RUNS
# sets the rounds of each case (default 3; README records 20 in a row).

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use GovTest;

my $runs = $ENV{GOV_BURST_RUNS} || 3;
my @aof = ('--appendonly', 'yes', '--appendfsync', 'always',
           '--enable-debug-command', 'yes');

my $t = GovTest->new;
$t->start_redis(args => \@aof);
$t->world(redis => 0, workers => 2,
          server => "    location = /gov/status { gov_status; }\n");

my %h = ('Content-Type' => 'application/json',
         Authorization => 'Bearer ' . $t->citizen);
my $body = encode_json({ fields => { name => '张三' },
                         materials => { photo => 'r' } });

is($t->apply(decode_json($body), headers => \%h)->{status}, 201,
   'a first submission');

# 100 at once; every one 201, every one in Redis afterwards
sub burst {
    my ($what) = @_;
    my $t0 = time;
    my @r = $t->parallel('POST', '/bundles/newborn/applications', 100,
                         headers => \%h, body => $body, timeout => 15);
    my $dt = time - $t0;
    my %codes;
    $codes{$_->{status}}++ for @r;
    is(scalar(grep { $_->{status} == 201 } @r), 100,
       sprintf('%s: 100 submissions at once, every one 201 (%.2f s)',
               $what, $dt))
        or diag(explain(\%codes), $r[-1]{body});
    my @ids = map { eval { decode_json($_->{body})->{id} } // () } @r;
    my @missing = grep { !$t->redis_cmd('EXISTS', "gov:app:$_") } @ids;
    is_deeply(\@missing, [], '... every acknowledged one in Redis');
}

# --- restarted: the workers' connections wait to reconnect ---------------
#
# Redis is away 1.5 s, so each worker's next attempt may be up to 2 s off;
# it answers PING before the burst comes.

for my $run (1 .. $runs) {
    $t->stop_redis;
    sleep 1.5;
    $t->start_redis(args => \@aof);
    burst("restarted, round $run");
}

# --- restarted and still loading: -LOADING holds the commands ------------
#
# 2,000 keys loaded 30 us apart (about 0.2 ms with the sleep's slack;
# events served every 4 kB read) keep Redis answering -LOADING for a few
# tenths of a second; the burst comes as soon as it answers at all.

# the same data every time: the applications of the last burst go, 2,000
# keys come, all in the append-only file's base (an RDB)
sub restart_loading {
    my ($delay) = @_;
    $t->redis_cmd('FLUSHALL');
    $t->redis_cmd('DEBUG', 'POPULATE', 2000, 'filler');
    $t->redis_cmd('BGREWRITEAOF');
    $t->wait_for(sub {
        $t->redis_cmd('INFO', 'persistence') =~ /aof_rewrite_in_progress:0/
    }, 10) or die "no AOF rewrite\n";
    sleep 0.3;
    $t->stop_redis;
    sleep 0.5;
    $t->start_redis(args => [ @aof, '--key-load-delay', $delay,
                              '--loading-process-events-interval-bytes',
                              4096 ],
                    loading => 1);
    return $t->redis_cmd('PING') =~ /^-LOADING/ ? 1 : 0;
}

my $loading = 0;
for my $run (1 .. $runs) {
    $loading += restart_loading(30);
    burst("loading, round $run");
}
cmp_ok($loading, '>=', 1, "the bursts met Redis loading ($loading of $runs)");

# --- loading for longer than the command timeout (2 s): 503 in bound ------

restart_loading(2000);
my $t0 = time;
my @r = $t->parallel('POST', '/bundles/newborn/applications', 20,
                     headers => \%h, body => $body, timeout => 15);
my $dt = time - $t0;
is(scalar(grep { $_->{status} == 503 } @r), 20,
   'loading past the timeout: every submission 503');
cmp_ok($dt, '<', 3, sprintf('... within the 2 s timeout (%.2f s)', $dt));
like($r[0]{body}, qr/"reason":"storage"/, '... the storage named');
is(scalar(grep { $_->{head} =~ /^Retry-After: \d+\r?$/mi } @r), 20,
   '... each with Retry-After');
ok($t->wait_for(sub { $t->redis_cmd('PING') eq 'PONG' }, 20),
   'Redis done loading');
burst('loaded at last');

my $log = $t->error_log;
like($log, qr/gov redis: 127\.0\.0\.1:\d+ is loading its data, the commands wait/,
     'the wait is logged');
like($log, qr/no reply from \S+ within 2000ms \(still loading its data\)/,
     '... and the timeout, saying why');
my $said = () = $log =~ /is loading its data/g;
cmp_ok($said, '<=', 2 * ($runs + 2),
       '... once per connection and attempt');

my $m = $t->metrics;
is($m->{gov_redis_pending}, 0, 'no command left pending');
my @five = grep { /^gov_http_responses_total\{.*code="5/ && $m->{$_} } keys %$m;
is_deeply([ sort @five ], [ grep { /code="503"/ } sort @five ],
          'no 5xx but those 503s answered through it all');

$t->done(allow => [ qr/gov redis: connection to \S+ (?:closed by Redis|failed)/,
                    qr/connect\(\) to \S+ failed/,
                    qr/no reply from \S+ within 2000ms \(still loading/ ]);
done_testing();
