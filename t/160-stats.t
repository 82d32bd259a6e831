#!/usr/bin/perl

# CONTRACT section 12, public statistics (阳光公开 · 好差评): a scripted mix
# of submissions, callbacks on time and late (nginx's clock moved across
# days and a month boundary with libfaketime), corrections that pause the
# clock, a refusal, a withdrawal, ratings and rectifications; every
# published figure equals what this test computes from its own record.
# The 红黑榜 ordering, the page without JavaScript, caching, and the
# rectification endpoint's refusals (401, 403, 404, 409, 422).

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use POSIX qw(floor);
use Time::Local qw(timegm);
use Encode qw(decode_utf8);
use GovTest;

plan skip_all => 'libfaketime is not installed (make test-deps)'
    unless -e $GovTest::FAKETIME_LIB;

my $t = GovTest->new;

# nginx's clock: 04:00 UTC on the given day
sub day_at {
    my ($y, $m, $d) = split /-/, $_[0];
    return timegm(0, 0, 4, $d, $m - 1, $y);
}

sub at { $t->fake_time(day_at($_[0])) }

at('2026-11-02');

$t->world(workers => 2,
          bundles => GovTest::newborn(items => [qw(nhc cdc)], more => <<'EOF'),
    gov_item hk { name "户口登记"; department "公安局";
                  backend /internal/dept; callback_secret_file dept.secret;
                  fields name; time_limit 2; }
    gov_bundle move { name "迁户一件事"; code MV; items hk; time_limit 2; }
EOF
          http => <<'EOF', server => <<'EOF');
    gov_templates %%ROOT%%/templates;
    gov_events;
EOF
    location /stats/ { gov_stats; }
    location = /gov/status { gov_status; }
EOF

my $ttl = 400 * 86400;
my $citizen = '110101199001011234';
my %auth = $t->bearer(sub => $citizen, ttl => $ttl);
my %op = $t->bearer(sub => 'OP-1', ttl => $ttl,
                    claims => '{"role":"operator"}');
my %notop = $t->bearer(sub => 'OP-2', ttl => $ttl,
                       claims => '{"role":"auditor"}');

# --- the test's own record ----------------------------------------------------

my $clock = '2026-11-02';       # the day nginx sees
my (%apps, %rec);               # application -> what happened to it

# working days in (a, b], weekends only (no gov_calendar here)
sub wdays {
    my ($a, $b) = @_;
    my $n = 0;
    for (my $d = day_at($a) + 86400; $d <= day_at($b); $d += 86400) {
        my $wd = (gmtime $d)[6];
        $n++ if $wd != 0 && $wd != 6;
    }
    return $n;
}

sub month { substr $_[0], 0, 7 }

my %want;       # period -> "b:ID" / "i:ID" -> counter -> n

sub count {
    my ($day, $scope, $field, $n) = @_;
    $want{ month($day) }{$scope}{$field} += $n // 1;
    $want{ substr $day, 0, 4 }{$scope}{$field} += $n // 1;
}

sub set_day {
    $clock = $_[0];
    at($clock);
}

sub apply {
    my ($bundle) = @_;
    my $res = $t->post("/bundles/$bundle/applications",
        body => encode_json({ fields => { name => '王小宝' },
                              materials => $bundle eq 'newborn'
                                           ? { photo => 'ref-1' } : {} }),
        headers => { 'Content-Type' => 'application/json', %auth });
    is($res->{status}, 201, "$bundle: an application on $clock")
        or diag $res->{content};
    my $id = $res->{json}{id};
    my @items = $bundle eq 'newborn' ? qw(nhc cdc) : qw(hk);
    $apps{$id} = { bundle => $bundle, submitted => $clock, items => \@items,
                   steps => { map { $_ => { state => 'received',
                                            pause => 0 } } @items } };
    count($clock, "b:$bundle", 'applications');
    count($clock, "i:$_", 'applications') for @items;
    return $id;
}

my $seq = 0;

sub callback {
    my ($id, $item, $state, %o) = @_;
    my $ts = $t->now;
    my $body = encode_json({ state => $state, seq => ++$seq,
                             $o{request} ? (request => $o{request}) : () });
    my $res = $t->callback($id, $item, $body, ts => $ts);
    diag "ts=$ts date=$res->{headers}{date}" if $res->{status} != 204;
    is($res->{status}, 204, "$id/$item → $state on $clock")
        or diag $res->{content};

    # what the test expects of it
    my $ap = $apps{$id};
    my $s = $ap->{steps}{$item};
    my $limit = { nhc => 3, cdc => 5, hk => 2 }->{$item};
    if ($s->{paused_since}) {
        $s->{pause} += wdays($s->{paused_since}, $clock);
        delete $s->{paused_since};
    }
    $s->{paused_since} = $clock if $state eq 'correction';
    $s->{accepted} //= $clock if $state eq 'accepted';
    $s->{state} = $state;
    if ($state eq 'approved' || $state eq 'denied') {
        my $used = wdays($s->{accepted}, $clock);
        count($clock, "i:$item", 'finished');
        count($clock, "i:$item", 'on_time')
            if $used <= $limit + $s->{pause};
        count($clock, "i:$item", 'days',
              $used - $s->{pause} > 0 ? $used - $s->{pause} : 0);
        $s->{decided} = 1;
    }
    my @open = grep { $ap->{steps}{$_}{state} !~ /^(approved|delivered|denied|refused)$/ }
               @{ $ap->{items} };
    if (!@open && !$ap->{finished}) {
        my ($maxp) = sort { $b <=> $a } map { $ap->{steps}{$_}{pause} } @{ $ap->{items} };
        my $used = wdays($ap->{submitted}, $clock);
        my $bl = { newborn => 10, move => 2 }->{ $ap->{bundle} };
        count($clock, "b:$ap->{bundle}", 'finished');
        count($clock, "b:$ap->{bundle}", 'on_time') if $used <= $bl + $maxp;
        count($clock, "b:$ap->{bundle}", 'days',
              $used - $maxp > 0 ? $used - $maxp : 0);
        $ap->{finished} = $clock;
    }
    return $res;
}

sub rate {
    my ($id, $score) = @_;
    my $res = $t->post("/progress/$id/rating",
                       body => encode_json({ score => $score,
                                             comment => "评价 $score" }),
                       headers => { 'Content-Type' => 'application/json',
                                    %auth });
    is($res->{status}, 204, "$id rated $score on $clock");
    my $ap = $apps{$id};
    my @scopes = ("b:$ap->{bundle}",
                  map { "i:$_" } grep { $ap->{steps}{$_}{decided} } @{ $ap->{items} });
    for my $s (@scopes) {
        count($clock, $s, 'ratings');
        count($clock, $s, 'satisfied') if $score >= 4;
        count($clock, $s, 'bad') if $score <= 2;
    }
    $ap->{rated} = { day => $clock, scopes => \@scopes, score => $score };
}

sub rectify {
    my ($id, $note, %o) = @_;
    return $t->post("/stats/ratings/$id/rectification",
                    body => $o{body} // encode_json({ note => $note }),
                    headers => { 'Content-Type' => $o{type} // 'application/json',
                                 %{ $o{auth} // \%op } });
}

sub withdraw {
    my ($id) = @_;
    my $res = $t->post("/progress/$id/withdrawal",
                       body => encode_json({ reason => '不办了' }),
                       headers => { 'Content-Type' => 'application/json', %auth });
    is($res->{status}, 200, "$id withdrawn on $clock");
    my $ap = $apps{$id};
    count($clock, "b:$ap->{bundle}", 'withdrawn');
    for my $item (@{ $ap->{items} }) {
        next unless $ap->{steps}{$item}{state} =~
            /^(queued|received|correction|accepted|reviewing)$/;
        count($clock, "i:$item", 'withdrawn');
        $ap->{steps}{$item}{state} = 'withdrawn';
    }
}

# --- the mix ------------------------------------------------------------------

# Monday 2 November: five newborn applications and one move
my $a1 = apply('newborn');
my $a2 = apply('newborn');
my $a3 = apply('newborn');
my $a4 = apply('newborn');
my $m1 = apply('move');
callback($_, 'nhc', 'accepted') for $a1, $a2;
callback($_, 'cdc', 'accepted') for $a1, $a2, $a3;
callback($m1, 'hk', 'accepted');

set_day('2026-11-03');
callback($a1, 'cdc', 'correction',
         request => { fields => ['name'], note => '姓名有误' });
callback($a3, 'nhc', 'refused');

set_day('2026-11-04');
callback($a1, 'nhc', 'approved');           # 2 of 3 days: on time
callback($m1, 'hk', 'approved');            # 2 of 2: on time, at the limit

set_day('2026-11-05');
withdraw($a4);

set_day('2026-11-09');                      # Monday: 4 working days paused
callback($a1, 'cdc', 'accepted');

set_day('2026-11-13');

# gov_steps_overdue against the progress documents' own flags
sub overdue_flags {
    my $n = 0;
    for my $id (keys %apps) {
        my $doc = $t->get("/progress/$id", headers => \%auth)->{json};
        $n += grep { $_->{overdue} } @{ $doc->{steps} };
    }
    return $n;
}
is(overdue_flags(), 3, 'on 13 November three steps are overdue '
   . '(nhc and cdc of the second, cdc of the third; not the paused one)');
ok($t->wait_for(sub { ($t->metrics->{gov_steps_overdue} // -1) == 3 }, 15),
   'gov_steps_overdue says 3 as well')
    or diag explain $t->metrics->{gov_steps_overdue};

callback($a1, 'cdc', 'approved');           # 9 - 4 paused = 5 of 5: on time
callback($a2, 'nhc', 'approved');           # 9 of 3: late
callback($a2, 'cdc', 'denied');             # 9 of 5: late
rate($a1, 5);
rate($a2, 1);
rate($m1, 4);

set_day('2026-11-30');
my $a5 = apply('newborn');

# the month boundary: Tuesday 1 December
set_day('2026-12-01');
callback($a3, 'cdc', 'approved');           # 21 of 5: late, in December
callback($a5, 'nhc', 'accepted');
rate($a3, 2);

set_day('2026-12-02');
callback($a5, 'nhc', 'approved');           # 1 of 3: on time

is(overdue_flags(), 0, 'by 2 December nothing is overdue');
ok($t->wait_for(sub { ($t->metrics->{gov_steps_overdue} // -1) == 0 }, 15),
   'gov_steps_overdue: 0');
my $m = $t->metrics;
is_deeply([ @$m{qw(gov_retry_queued gov_retry_due)} ], [ 0, 0 ],
          'the retry queue is empty: gov_retry_queued and gov_retry_due 0');

# --- every figure as the test counted it --------------------------------------

sub rate_of {
    my ($part, $whole) = @_;
    return $whole ? $part / $whole : undef;
}

sub check_period {
    my ($query, $period) = @_;
    my $res = $t->get("/stats/$query");
    is($res->{status}, 200, "GET /stats/$query");
    my $doc = $res->{json};
    is($doc->{period}, $period, "... the period $period");
    for my $kind (qw(bundles items)) {
        for my $o (@{ $doc->{$kind} }) {
            my $w = $want{$period}{ substr($kind, 0, 1) . ":$o->{id}" } || {};
            my %c = map { $_ => $w->{$_} // 0 }
                    qw(applications finished on_time days ratings satisfied
                       bad rectified withdrawn);
            my %exp = (
                applications => $c{applications}, finished => $c{finished},
                on_time => $c{on_time},
                on_time_rate => rate_of($c{on_time}, $c{finished}),
                avg_working_days => rate_of($c{days}, $c{finished}),
                ratings => $c{ratings},
                rating_rate => rate_of($c{ratings}, $c{finished}),
                satisfaction => rate_of($c{satisfied}, $c{ratings}),
                bad => $c{bad}, rectified => $c{rectified},
                rectification_rate => rate_of($c{rectified}, $c{bad}),
                withdrawn => $c{withdrawn});
            my %got = map { $_ => $o->{$_} } keys %exp;
            is_deeply(\%got, \%exp, "$period $kind $o->{id}: every figure")
                or diag explain { got => \%got, want => \%exp };
        }
    }
    return $doc;
}

my $nov = check_period('?month=2026-11', '2026-11');
my $dec = check_period('', '2026-12');
check_period('?year=2026', '2026');

# a few by hand, so that the record itself is checked
my ($nb) = grep { $_->{id} eq 'newborn' } @{ $nov->{bundles} };
is_deeply([ @$nb{qw(applications finished on_time ratings bad withdrawn)} ],
          [ 5, 2, 2, 2, 1, 1 ],
          'November, newborn: 5 applied, 2 finished on time, 2 rated, 1 bad, '
          . '1 withdrawn');
is($nb->{avg_working_days}, 7, '... (5 + 9) / 2 working days');
my ($cdc) = grep { $_->{id} eq 'cdc' } @{ $nov->{items} };
is_deeply([ @$cdc{qw(finished on_time)} ], [ 2, 1 ],
          'November, cdc: the corrected one on time at its deadline, the '
          . 'denied one late');
($cdc) = grep { $_->{id} eq 'cdc' } @{ $dec->{items} };
is_deeply([ @$cdc{qw(applications finished on_time)} ], [ 0, 1, 0 ],
          'December, cdc: finished across the month boundary, late');
is($cdc->{on_time_rate}, 0, '... an on-time rate of 0');
my ($hk) = grep { $_->{id} eq 'hk' } @{ $dec->{items} };
is($hk->{on_time_rate}, undef, 'nothing finished: on_time_rate null');

# --- the 红黑榜 -----------------------------------------------------------------

is_deeply([ map { $_->{department} } @{ $nov->{ranking} } ],
          [ '公安局', '卫生健康委', '疾控中心' ],
          'November ranking: by on-time rate (1, 0.5, 0.5), then '
          . 'satisfaction (0.5, 0.5: then by name)');
is_deeply([ map { $_->{board} } @{ $nov->{ranking} } ],
          [ 'red', undef, 'black' ], 'the first red, the last black');
is_deeply([ map { $_->{rank} } @{ $nov->{ranking} } ], [ 1, 2, 3 ], 'ranks');
my ($gab) = @{ $nov->{ranking} };
is_deeply([ @$gab{qw(on_time_rate satisfaction finished ratings)} ],
          [ 1, 1, 1, 1 ], '公安局: 1 of 1 on time, 1 rating, satisfied');

# --- rectification --------------------------------------------------------------

my $res = rectify($a2, '已约谈经办人并改进流程', auth => {});
is($res->{status}, 401, 'rectification without identity: 401');
$res = rectify($a2, '已改进', auth => \%notop);
is($res->{status}, 403, 'by a non-operator: 403');
is($res->{json}{error}, 'forbidden', '... forbidden');
$res = rectify($a1, '好评也整改？');
is($res->{status}, 409, 'a good rating: 409');
is($res->{json}{error}, 'not_a_bad_rating', '... not_a_bad_rating');
$res = rectify($a5, '还没评价');
is($res->{status}, 409, 'no rating yet: 409');
$res = rectify('NB20261102999999', '没有这件');
is($res->{status}, 404, 'an unknown application: 404');
$res = rectify($a2, '   ');
is($res->{status}, 422, 'a blank note: 422');
is($res->{json}{error}, 'invalid_note', '... invalid_note');
$res = rectify($a2, 'x' x 1001);
is($res->{status}, 422, 'a note over 1000 characters: 422');
$res = rectify($a2, undef, body => '{"note":');
is($res->{status}, 400, 'malformed JSON: 400');
$res = rectify($a2, undef, body => 'note', type => 'text/plain');
is($res->{status}, 415, 'not JSON: 415');
is(scalar(() = $t->redis_cmd('HGET', "gov:app:$a2", 'rating') =~ /rectification/), 0,
   'nothing written by the refusals');

# the operators' list: open bad ratings, oldest first
$res = $t->get('/stats/ratings/', headers => \%notop);
is($res->{status}, 403, 'the list to a non-operator: 403');
$res = $t->get('/stats/ratings/');
is($res->{status}, 401, 'the list without identity: 401');
$res = $t->get('/stats/ratings/', headers => \%op);
is($res->{status}, 200, 'the list to an operator');
is_deeply([ map { $_->{id} } @{ $res->{json}{ratings} } ], [ $a2, $a3 ],
          '... the open bad ratings, oldest first');
is($res->{json}{ratings}[0]{score}, 1, '... with their scores');
like($res->{headers}{'cache-control'}, qr/no-store/, '... not stored');

$res = rectify($a2, '已约谈经办人，材料审核改为当日完成');
is($res->{status}, 204, 'an operator rectifies a bad rating: 204');
for my $s (@{ $apps{$a2}{rated}{scopes} }) {
    count($apps{$a2}{rated}{day}, $s, 'rectified');   # the rating's month
}
$res = rectify($a2, '再次整改');
is($res->{status}, 409, 'rectifying twice: 409');
is($res->{json}{error}, 'already_rectified', '... already_rectified');

$res = $t->get("/progress/$a2", headers => \%auth);
is($res->{json}{rating}{rectification}{note},
   '已约谈经办人，材料审核改为当日完成', 'the citizen sees the note');
$res = $t->get("/progress/$a2", headers => { %auth, Accept => 'text/html' });
like(decode_utf8($res->{content}), qr/整改情况.*材料审核改为当日完成/s,
     '... on the progress page too');

$res = $t->get('/stats/ratings/', headers => \%op);
is_deeply([ map { $_->{id} } @{ $res->{json}{ratings} } ], [ $a3 ],
          'the list no longer holds it');

# the page's form: urlencoded, 303 back to the list
$res = rectify($a3, undef, body => 'note=' . GovTest::uri_escape('已回访群众'),
               type => 'application/x-www-form-urlencoded',
               auth => { %op, Accept => 'text/html' });
is($res->{status}, 303, 'the operators\' form: 303');
is($res->{headers}{location}, '/stats/ratings/', '... back to the list');
count($apps{$a3}{rated}{day}, $_, 'rectified') for @{ $apps{$a3}{rated}{scopes} };

my @events = map { { @{ $_->[1] } } }
             @{ $t->redis_cmd('XRANGE', 'gov:events', '-', '+') };
is_deeply([ map { $_->{application} } grep { $_->{type} eq 'rectified' } @events ],
          [ $a2, $a3 ], 'a rectified event for each, in the same step');

# rectified counts for the month of the rating
check_period('?month=2026-11', '2026-11');
check_period('?month=2026-12', '2026-12');
check_period('?year=2026', '2026');

# --- periods, caching ------------------------------------------------------------

for my $q ('?month=2026-13', '?month=2026', '?year=2026-11', '?month=abc',
           '?month=2026-11&year=2026', '?year=1999')
{
    $res = $t->get("/stats/$q");
    is($res->{status}, 400, "$q: 400");
    is($res->{json}{error}, 'invalid_period', '... invalid_period');
}
$res = $t->get('/stats/?month=2025-01');
is($res->{status}, 200, 'a month with nothing counted');
is($res->{json}{bundles}[0]{applications}, 0, '... zeros');
is($t->get('/stats/nothing')->{status}, 404, 'an unknown path: 404');
is($t->post('/stats/', body => '{}')->{status}, 405, 'POST /stats/: 405');

$res = $t->get('/stats/?month=2026-11');
like($res->{headers}{'cache-control'}, qr/public, max-age=60/,
     'figures may be cached a minute');
my $etag = $res->{headers}{etag};
ok($etag, '... with an ETag');
$res = $t->get('/stats/?month=2026-11', headers => { 'If-None-Match' => $etag });
is($res->{status}, 304, '... 304 when unchanged');

# Redis read once while nothing changes (per worker), again after a change
my $calls = sub {
    my $info = $t->redis_cmd('INFO', 'commandstats');
    return $info =~ /cmdstat_hgetall:calls=(\d+)/ ? $1 : 0;
};
my $before = $calls->();
$t->get('/stats/?month=2026-11') for 1 .. 20;
ok($calls->() - $before <= 2, 'twenty views: at most one read per worker')
    or diag $calls->() - $before;
set_day('2026-12-02');
my $m2 = apply('move');
$res = $t->get('/stats/?month=2026-12');
my ($mv) = grep { $_->{id} eq 'move' } @{ $res->{json}{bundles} };
is($mv->{applications}, $want{'2026-12'}{'b:move'}{applications},
   'a change shows at once on this node');

# --- the page ----------------------------------------------------------------------

$res = $t->get('/stats/?month=2026-11', headers => { Accept => 'text/html' });
is($res->{status}, 200, 'the page');
my $html = decode_utf8($res->{content});
$t->write_file('stats.html', $res->{content}) if $ENV{TEST_NGINX_KEEP};
like($html, qr/2026年11月/, '... for November 2026');
unlike($html, qr/<script/i, '... without script');
like($html, qr/<svg[^>]*role="img"/, '... charts drawn as SVG');
like($html, qr/<title id="chart-on-time">各部门按期办结率/, '... titled');
like($html, qr{<th scope="row">公安局</th><td><span class="badge">红榜</span></td><td>100\.0%（1/1）</td>},
     '... the ranking table: 公安局 on the red board at 100.0%');
like($html, qr{<caption>新生儿出生一件事（2026年11月）</caption>\s*<tbody>\s*<tr><th scope="row">申请</th><td>5</td></tr>\s*<tr><th scope="row">办结</th><td>2</td></tr>\s*<tr><th scope="row">按期办结</th><td>2</td></tr>\s*<tr><th scope="row">按期办结率</th><td>100\.0%</td></tr>\s*<tr><th scope="row">平均用时（工作日）</th><td>7\.0</td></tr>},
     '... the bundle\'s table with the same figures');
like($html, qr/黑榜/, '... and the black board in words, not colour only');

$t->check_logs;
$t->done;
done_testing();
