#!/usr/bin/perl

# CONTRACT section 16, retention and the archive: with nginx's clock moved
# (libfaketime), an application every step of which is final
# leaves Redis finished= (or withdrawn=) after its last change, only once
# the archive (conf/demo/archive.pl) acknowledged its "archived" event with
# the whole record; one not final, or with a bad rating not yet rectified,
# stays; the archive down: nothing removed until it is back; delivered
# twice: archived once, removed once.  Lookups of what left Redis are
# answered from the archive, access checked as before (applicant, agent,
# query code, wrong code, someone else, unknown: 404; archive down: 503);
# nginx -t refuses retention without an archive to send to.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;

my $day = 86400;
my $t = GovTest->new;
my $mode = $t->prefix . '/archive.mode';

# nginx's clock moves; Redis's cannot (libfaketime hangs its jemalloc):
# retention counts on the nodes' clocks, the change's and the sweep's
$t->fake_time(time);
$t->start_redis;
$t->archive_service;

my ($http, $archive) = $t->retention_conf('finished=10d withdrawn=5d',
                                          read_timeout => '1s');

$t->world(redis => 0, workers => 2,
          bundles => GovTest::newborn(items => [qw(nhc cdc)]),
          http => $http, server => $archive . <<'EOF');
    location /stats/ { gov_stats; }
    location = /gov/status { gov_status; }
EOF

my $citizen = '110101199001011234';
my $ttl = 100 * $day;
my %mine = $t->bearer(sub => $citizen, ttl => $ttl);
my %agent = $t->bearer(sub => 'AGENT-7', ttl => $ttl);
my %by_agent = $t->bearer(sub => $citizen, act => 'AGENT-7', ttl => $ttl);
my %other = $t->bearer(sub => '310101198505052345', ttl => $ttl);
my %op = $t->bearer(sub => 'OP-1', ttl => $ttl,
                    claims => '{"role":"operator"}');

my %code;

sub submit {
    my (%h) = @_;
    my $res = $t->apply({ fields => { name => '王小宝' },
                          materials => { photo => 'p-1' } },
                        headers => { %h });
    is($res->{status}, 201, 'submitted');
    $code{ $res->{json}{id} } = $res->{json}{query_code};
    return $res->{json}{id};
}

sub move {
    my ($id, $item, @states) = @_;
    for my $s (@states) {
        my $res = $t->callback($id, $item, { state => $s }, ts => $t->now);
        is($res->{status}, 204, "$id $item: $s");
    }
}

sub look {
    my ($id, %h) = @_;
    my $q = delete $h{code};
    return $t->get("/progress/$id" . (defined $q ? "?code=$q" : ''),
                   headers => { %h });
}

sub in_redis { $t->redis_cmd('EXISTS', "gov:app:$_[0]") }

sub states {
    my ($doc) = @_;
    return join ' ', map { "$_->{item}=$_->{state}" }
                     sort { $a->{item} cmp $b->{item} } @{ $doc->{steps} };
}

# --- nginx -t ------------------------------------------------------------------

{
    my $n = GovTest->new;
    $n->{redis}{redis} = { port => $t->redis_port };
    $n->{backends} = $t->{backends};
    for my $case (
        [ "    gov_events;\n    gov_retention finished=90d;\n",
          qr/"gov_retention" in \S+:\d+ needs "gov_redis", "gov_events" and "gov_archive_notify"/,
          'retention without an archive target' ],
        [ "    gov_retention finished=90d;\n    gov_archive_notify /a;\n",
          qr/"gov_notify" needs "gov_events"/,
          'an archive target without events' ],
        [ "    gov_events;\n    gov_retention withdrawn=9d;\n"
          . "    gov_archive_notify /a;\n",
          qr/"gov_retention" needs "finished=TIME"/, 'no finished=' ],
        [ "    gov_events;\n    gov_retention finished=0s;\n",
          qr/invalid time in "finished=0s" of "gov_retention"/, 'zero' ],
        [ "    gov_events;\n    gov_retention finished=9d keep=1;\n",
          qr/invalid parameter "keep=1" in "gov_retention"/, 'unknown' ],
        [ "    gov_events;\n    gov_retention finished=9d sweep=2h;\n",
          qr/sweep= at most 1h/, 'sweep too long' ],
        [ "    gov_events;\n    gov_archive_notify /a;\n"
          . "    gov_archive_notify /b;\n",
          qr/"gov_archive_notify" directive is duplicate/, 'two archives' ],
        [ "    gov_archive internal/archive;\n",
          qr/invalid URI "internal\/archive" in "gov_archive"/,
          'a relative archive' ],
        [ "    gov_archive /a?b;\n",
          qr/starting with "\/", without arguments/, 'arguments' ],
    ) {
        my ($lines, $re, $what) = @$case;
        $n->write_file('conf/dept.secret', "department-secret-0123456789\n");
        $n->{world} = { http => $lines };
        $n->gen_keys;
        $n->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);
        $n->write_world;
        my ($st, $out) = $n->test_conf;
        isnt($st, 0, "nginx -t fails: $what");
        like($out, $re, "  and says why: $what");
    }
    $n->{world} = { http => $http };
    $n->write_world;
    my ($st, $out) = $n->test_conf;
    is($st, 0, 'nginx -t: retention with its archive is fine') or diag $out;
}

# --- applications of every kind ------------------------------------------------

my $done = submit(%mine);                       # approved and denied
my $gone = submit(%by_agent);                   # withdrawn, by an agent
my $open = submit(%mine);                       # one step still open
my $bad = submit(%mine);                        # finished, rated badly

$t->wait_for(sub {
    my $s = $t->redis_cmd('HGET', "gov:steps:$done", 'nhc') // '';
    $s =~ /"received"/;
}, 10);

move($done, 'nhc', qw(accepted approved));
move($done, 'cdc', qw(accepted denied));
move($open, 'nhc', qw(accepted approved));
move($bad, $_, qw(accepted approved)) for qw(nhc cdc);

my $res = $t->post("/progress/$gone/withdrawal",
                   body => encode_json({ reason => '不办了' }),
                   headers => { 'Content-Type' => 'application/json',
                                %by_agent });
is($res->{status}, 200, 'withdrawn by the agent');

my $was = $t->redis_cmd('ZSCORE', 'gov:final', $bad);
sleep 1.1;
$res = $t->post("/progress/$bad/rating",
                body => encode_json({ score => 1, comment => '太慢' }),
                headers => { 'Content-Type' => 'application/json', %mine });
is($res->{status}, 204, 'rated 1, a bad rating');
cmp_ok($t->redis_cmd('ZSCORE', 'gov:final', $bad), '>=', $was + 1000,
       '  a change: its time to leave is counted from it again');
my $due = $t->redis_cmd('ZSCORE', 'gov:final', $bad);
cmp_ok(abs($due - $t->now * 1000 - 10 * $day * 1000), '<', 5000,
       '  finished=10d after it, on the clock of the node that made it');

# the department hears of the withdrawal: nothing is owed to anyone
ok($t->wait_for(sub {
    my $s = $t->redis_cmd('HGETALL', "gov:steps:$gone");
    !grep { /"notify"/ } @$s;
}, 10), 'the departments heard of the withdrawal');

my %before = map { $_ => look($_, %mine)->{json} } $done, $gone, $open, $bad;
is($before{$gone}{status}, 'withdrawn', 'before: the withdrawn one');

my @final = @{ $t->redis_cmd('ZRANGE', 'gov:final', 0, -1) };
is_deeply([ sort @final ], [ sort $done, $gone, $bad ],
          'the final ones are kept for retention, the open one is not');

# --- 4 days on: nothing is due ---------------------------------------------------

$t->fake_time(time + 4 * $day);
sleep 2.5;
ok(in_redis($_), "day 4: $_ still in Redis") for $done, $gone, $open, $bad;
my ($docs) = $t->archived;
is(scalar keys %$docs, 0, 'day 4: nothing archived');

# --- 6 days on: the withdrawn one leaves ----------------------------------------

$t->fake_time(time + 6 * $day);
ok($t->wait_for(sub { !in_redis($gone) }, 15),
   'day 6: the withdrawn application left Redis');
ok(in_redis($_), "day 6: $_ stays") for $done, $open, $bad;

my $deliveries;
($docs, $deliveries) = $t->archived;
is_deeply([ keys %$docs ], [ $gone ], 'the archive holds it');
my $rec = $docs->{$gone};
is($rec->{id}, $gone, 'its record names it');
is($rec->{application}{subject}, $citizen, 'the applicant');
is($rec->{application}{actor}, 'AGENT-7', 'the agent');
is($rec->{application}{doc}{fields}{name}, '王小宝', 'the fields');
is(ref $rec->{application}{withdrawal}, 'HASH', 'the withdrawal');
like($rec->{application}{code}, qr/^[0-9a-f]{64}$/,
     'the query code only hashed');
is_deeply([ sort map { decode_json(encode_json($_))->{state} }
            values %{ $rec->{steps} } ],
          [ 'withdrawn', 'withdrawn' ], 'the steps');
ok($rec->{archived_at} > 0, 'when');

is($t->redis_cmd('EXISTS', "gov:steps:$gone"), 0, 'its steps left');
is($t->redis_cmd('ZSCORE', "gov:user:$citizen", $gone), undef,
   'it left the citizen\'s list');
is($t->redis_cmd('ZSCORE', 'gov:final', $gone), undef,
   'it left the retention set');
my @left = grep { !/^gov:(stats|seq|replay|idem|events|final|nq|codefail)/ }
           @{ $t->redis_cmd('KEYS', "*$gone*") };
is_deeply(\@left, [], 'no key of it is left');
my $stream = $t->redis_cmd('XRANGE', 'gov:events', '-', '+');
ok(!grep({ my %f = @{ $_->[1] }; ($f{type} // '') eq 'archived' } @$stream),
   'its archived event left the stream once acknowledged');

# --- lookups answered from the archive --------------------------------------------

$res = look($gone, %mine);
is($res->{status}, 200, 'the applicant still sees it');
is($res->{json}{id}, $gone, '  the same application');
is($res->{json}{status}, 'withdrawn', '  withdrawn');
is(states($res->{json}), states($before{$gone}), '  the same steps');
is($res->{json}{fields}{name}, $before{$gone}{fields}{name}, '  unmasked');
is(look($gone, %by_agent)->{status}, 200, 'the agent acting for them too');
is(look($gone, %agent)->{status}, 200, 'the agent too');
$res = look($gone, code => $code{$gone});
is($res->{status}, 200, 'anyone with the query code');
isnt($res->{json}{fields}{name}, '王小宝', '  masked');
is(look($gone, code => 'WRONG-CODE')->{status}, 404, 'a wrong code: 404');
is($t->redis_cmd('GET', "gov:codefail:$gone"), 1, '  counted as before');
is(look($gone, %other)->{status}, 404, 'someone else: 404');
is(look($gone)->{status}, 401, 'no one: 401');
is(look('NB20990101000001', %mine)->{status}, 404,
   'unknown to Redis and to the archive: 404');
my @reads = split /\n/, $t->read_file('archive/reads.log');
ok((grep { $_ eq "$gone $citizen" } @reads),
   'the archive is told who asks (X-Gov-Subject)');
$res = $t->post("/progress/$gone/rating",
                body => encode_json({ score => 5 }),
                headers => { 'Content-Type' => 'application/json', %mine });
is($res->{status}, 404, 'a rating after it left: 404');

$t->write_file($mode, 'down');
$res = look($gone, %other);
is($res->{status}, 503, 'the archive down: 503');
ok($res->{headers}{'retry-after'}, '  with Retry-After');
$t->write_file($mode, 'ok');

# --- 11 days on: the finished one leaves, the open one and the bad one stay ------

$t->fake_time(time + 11 * $day);
ok($t->wait_for(sub { !in_redis($done) }, 15),
   'day 11: the finished application left Redis');
sleep 2;
ok(in_redis($open), 'the open one stays');
ok(in_redis($bad), 'the one with a bad rating not yet rectified stays');
is(look($done, %mine)->{json}{status}, $before{$done}{status},
   'the finished one read back from the archive');

# rectified: a change, the bad one is kept 10 days from it
$res = $t->post("/stats/ratings/$bad/rectification",
                body => encode_json({ note => '已整改' }),
                headers => { 'Content-Type' => 'application/json', %op });
is($res->{status}, 204, 'the bad rating rectified');
sleep 2.5;
ok(in_redis($bad), 'rectified on day 11: kept 10 days from it');
$t->fake_time(time + 22 * $day);
ok($t->wait_for(sub { !in_redis($bad) }, 15),
   'day 22: the rectified one left Redis');
$res = look($bad, %mine);
is($res->{status}, 200, 'read back');
is($res->{json}{rating}{score}, 1, '  with its rating');
ok($res->{json}{rating}{rectification}, '  and its rectification');

# --- the archive down: nothing leaves until it is back --------------------------------

my $late = submit(%mine);
$t->wait_for(sub {
    ($t->redis_cmd('HGET', "gov:steps:$late", 'nhc') // '') =~ /"received"/
}, 10);
move($late, $_, qw(accepted approved)) for qw(nhc cdc);
$t->write_file($mode, 'down');
$t->fake_time(time + 33 * $day);
sleep 5;
ok(in_redis($late), 'the archive down: the application stays');
my $xa = grep { my %f = @{ $_->[1] }; ($f{type} // '') eq 'archived' }
         @{ $t->redis_cmd('XRANGE', 'gov:events', '-', '+') };
is($xa, 1, '  one archived event waits in the stream');
$t->write_file($mode, 'ok');
ok($t->wait_for(sub { !in_redis($late) }, 15),
   'the archive back: it leaves');

# --- delivered twice: archived once, removed once ---------------------------------------

my $twice = submit(%mine);
$t->wait_for(sub {
    ($t->redis_cmd('HGET', "gov:steps:$twice", 'nhc') // '') =~ /"received"/
}, 10);
move($twice, $_, qw(accepted denied)) for qw(nhc cdc);
my $removed = $t->metrics->{gov_applications_archived_total} // 0;
$t->write_file($mode, 'slow');
$t->fake_time(time + 44 * $day);
ok($t->wait_for(sub {
    (grep { $_ eq $twice } @{ ($t->archived)[1] }) >= 2
}, 20), 'the archive kept it, and the portal, not hearing, sent it again');
$t->write_file($mode, 'ok');
ok($t->wait_for(sub { !in_redis($twice) }, 15), 'then it left Redis');
($docs, $deliveries) = $t->archived;
is(scalar(grep { $_ eq $twice } keys %$docs), 1, 'archived once');
sleep 2;
is($t->metrics->{gov_applications_archived_total} - $removed, 1,
   'removed once');

# nothing of them all is left but the open one and the figures
is_deeply([ sort keys %$docs ], [ sort $gone, $done, $bad, $late, $twice ],
          'the archive holds every application that left, once');
is_deeply([ @{ $t->redis_cmd('ZRANGE', "gov:user:$citizen", 0, -1) } ],
          [ $open ], 'the citizen\'s list holds the open one');
$res = $t->get('/stats/');
is($res->{status}, 200, 'the statistics stay');
ok($res->{json}{bundles}, '  with what they counted') or diag $res->{content};

$t->done;
done_testing();
