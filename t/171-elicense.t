#!/usr/bin/perl

# CONTRACT section 13, e-licences (电子证照): "gov_elicense URI" checks each
# material given as "elicense" at submission with GET
# URI?material=ID&holder=SUBJECT, in parallel; 404 → 422 with reason
# elicense_not_found among every other problem; the library down → 503
# with Retry-After and nothing stored; answers cached in Redis (no ID
# number in the key); nginx -t mistakes.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;
use Time::HiRes qw(time sleep);

my $t = GovTest->new;

my $zhang = '110101199001011234';
my $li = '310101198505052345';

# the licence library: 张三 holds id_card and hukou_book, 李四 only id_card;
# a holder "DOWN" makes it fail
$t->write_file('library.down', '');
my $library = sub {
    my ($req) = @_;
    my %q = map { GovTest::uri_unescape($_) } map { split /=/, $_, 2 }
            split /&/, ($req->{uri} =~ /\?(.*)/)[0] // '';
    return { status => 500, body => 'oops' } if $t->read_file('library.down');
    my %has = ($zhang => { id_card => 1, hukou_book => 1 },
               $li => { id_card => 1 });
    return $has{ $q{holder} // '' }{ $q{material} // '' }
        ? { status => 200, body => encode_json({ number => 'L-1' }) }
        : { status => 404, body => '{"error":"not_found"}' };
};

# the world with the licences at /internal/licences, proxied to ADDR (the
# library above unless told) with the location's LINES
sub conf {
    my ($addr, $lines) = @_;
    $t->write_world(server => "    location /internal/licences { internal;\n"
                            . ($lines // '')
                            . "        proxy_pass http://$addr/licences; }\n");
}

$t->world(start => 0, backends => { library => $library },
          http => "    gov_elicense /internal/licences cache=10m;\n",
          bundles => <<'EOF');
    gov_material photo "照片";
    gov_material id_card "居民身份证" elicense;
    gov_material hukou_book "户口簿" elicense;
    gov_field name "姓名";
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend /internal/dept; callback_secret_file dept.secret;
                   materials photo id_card hukou_book; fields name;
                   time_limit 3; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc;
                         time_limit 10; }
EOF
conf('127.0.0.1:%%BACKEND:library%%');
$t->start_nginx;

sub apply {
    my ($who, $fields, $materials) = @_;
    my $token = $t->citizen($who);
    return $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => $fields,
                                          materials => $materials }),
                    headers => { 'Content-Type' => 'application/json',
                                 Authorization => "Bearer $token" });
}

sub library_asked { scalar(() = $t->backend_requests('library')) }

my $res = apply($zhang, { name => '王小宝' },
                { photo => 'ref-1', id_card => 'elicense',
                  hukou_book => 'elicense' });
is($res->{status}, 201, 'both e-licences held by the applicant: 201');
my @asked = $t->backend_requests('library');
is(scalar @asked, 2, '... the library asked twice, one per material');
my %q = map { $_->{uri} =~ /material=(\w+)/; ($1 => $_->{uri}) } @asked;
like($q{id_card}, qr{^/licences\?material=id_card&holder=$zhang$},
     '... GET URI?material=ID&holder=SUBJECT');
is($asked[0]{method}, 'GET', '... with GET');
my @keys = @{ $t->redis_cmd('KEYS', 'gov:elic:*') };
is(scalar @keys, 2, 'the answers cached in Redis');
ok(!grep({ /$zhang/ } @keys), '... under a hash, no ID number in the key');
ok($t->redis_cmd('TTL', $keys[0]) > 500, '... for cache=10m');

$res = apply($zhang, { name => '王小宝' },
             { photo => 'ref-1', id_card => 'elicense',
               hukou_book => 'elicense' });
is($res->{status}, 201, 'again: 201');
is(library_asked(), 2, '... from the cache, the library not asked');

$res = apply($li, {}, { photo => 'ref-1', id_card => 'elicense',
                        hukou_book => 'elicense' });
is($res->{status}, 422, 'a licence the holder does not have: 422');
is_deeply($res->{json}{invalid},
          [ { id => 'hukou_book', reason => 'elicense_not_found' } ],
          '... elicense_not_found for that material only');
is_deeply($res->{json}{missing}, [ 'name' ],
          '... listed with every other problem at once');

$res = apply($li, { name => '李小宝' },
             { photo => 'ref-1', id_card => 'elicense', hukou_book => 'ref-9' });
is($res->{status}, 201, 'the same material as a file: no licence asked');

# the library down
$t->write_file('library.down', '1');
my $before = $t->redis_cmd('DBSIZE');
$res = apply('440101199202023456', { name => '赵小宝' },
             { photo => 'ref-1', id_card => 'ref-2', hukou_book => 'elicense' });
is($res->{status}, 503, 'the library failing (a holder not cached): 503');
ok($res->{headers}{'retry-after'}, '... with Retry-After');
is($t->redis_cmd('DBSIZE'), $before, '... and nothing stored');
like($t->error_log, qr/gov elicense: the library answered 500 for material "hukou_book"/,
     '... and the log says why');
$t->write_file('library.down', '');

# a material that may not be an e-licence is refused by validation
$res = apply($zhang, { name => '王小宝' },
             { photo => 'elicense', id_card => 'elicense',
               hukou_book => 'elicense' });
is($res->{status}, 422, 'photo as "elicense": 422');
is_deeply($res->{json}{invalid},
          [ { id => 'photo', reason => 'elicense_not_allowed' } ],
          '... elicense_not_allowed, the library not asked for it');

# --- a library the proxy gives up on (502, 504) -------------------------------
#
# nginx runs a subrequest's completion handler twice when the proxy itself
# gives up: once with the error, once as the error answer ends.  Each check
# acts once: 503 within the proxy's timeout, the library asked once per
# material, a line or two in the log (a failure of the library's is logged
# at most once a second), and no worker spinning after.

my $silent = $t->fake_redis;            # accepts, never answers
my $refused = $t->free_port;            # nothing listens

for my $case ([ 'refused', "127.0.0.1:$refused", 2 ],
              [ 'silent', "127.0.0.1:$silent", 4 ])
{
    my ($name, $addr, $bound) = @$case;
    conf($addr, "        proxy_connect_timeout 1s; proxy_read_timeout 1s;\n");
    $t->reload;

    my $n = 0;
    for my $materials ([ 'hukou_book' ], [ 'id_card', 'hukou_book' ]) {
        my $who = sprintf '4401011992020%05d', ++$n + ($name eq 'silent') * 10;
        my $log0 = -s $t->prefix . '/logs/error.log';
        my $before = $t->redis_cmd('DBSIZE');
        my $t0 = time;
        my $res = apply($who, { name => '赵小宝' },
                        { photo => 'ref-1', id_card => 'ref-2',
                          map { $_ => 'elicense' } @$materials });
        my $took = time - $t0;
        my $what = "$name library, " . @$materials . ' material(s)';
        is($res->{status}, 503, "$what: 503");
        ok($res->{headers}{'retry-after'}, '... with Retry-After');
        cmp_ok($took, '<', $bound, "... within the proxy's timeout ($took s)");
        is($t->redis_cmd('DBSIZE'), $before, '... nothing stored');
        my $log = substr($t->error_log, $log0);
        my $said = () = $log =~ /gov elicense: the library answered/g;
        cmp_ok($said, '<=', 1,
               '... said at most once (a second, per library and node)');
        cmp_ok(length $log, '<', 4096, '... a few lines of log ('
                                       . length($log) . ' bytes)');
    }

    my $c0 = $t->cpu_ticks;
    sleep 3;
    cmp_ok($t->cpu_ticks - $c0, '<', 20,
           "$name library: the workers idle after it (no spinning)");
}

$t->stop_nginx;
$t->check_logs;

# --- nginx -t ------------------------------------------------------------------

for my $case ([ 'gov_elicense licences;',
                qr/invalid URI "licences" in "gov_elicense": a location of the server with gov_bundles, starting with "\/", without arguments in \S+:\d+/ ],
              [ 'gov_elicense /l?x=1;', qr/invalid URI "\/l\?x=1" in "gov_elicense"/ ],
              [ 'gov_elicense /l cache=soon;',
                qr/invalid "cache=soon" in "gov_elicense": a time, 0 for no cache in \S+:\d+/ ],
              [ 'gov_elicense /l ttl=1m;',
                qr/invalid parameter "ttl=1m" in "gov_elicense", only "cache=TIME" in \S+:\d+/ ],
              [ "gov_elicense /l;\n    gov_elicense /m;",
                qr/"gov_elicense" directive is duplicate in \S+:\d+/ ])
{
    $t->write_conf(http => "    $case->[0]\n");
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '... with a precise message and file:line');
}

$t->write_file('logs/error.log', '');
$t->done;
done_testing();
