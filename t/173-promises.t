#!/usr/bin/perl

# CONTRACT section 13, tolerated materials (容缺受理): "tolerable=DAYS" on
# gov_material; "promises" in JSON and the form's 承诺后补 box; what
# validation refuses, all at once, storing nothing; the promise kept in
# the document the departments get, "pending" on each step that needs it
# with its due day in working days; POST /progress/ID/materials (JSON,
# form, multipart with a file) delivered to each open step with
# X-Gov-Supplement: 1; a promise kept and one broken (overdue, attention,
# one "promise_overdue" event); nginx -t mistakes.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use Digest::SHA qw(sha256_hex);
use Time::Local qw(timegm);
use GovTest;

plan skip_all => 'libfaketime is not installed (make test-deps)'
    unless -e $GovTest::FAKETIME_LIB;

my $t = GovTest->new;
$t->write_file('conf/link.secret', "link-secret-0123456789abcdef0123456789\n");
mkdir $t->prefix . '/store' or die;

# nginx's clock: 04:00 UTC on the given day
sub at {
    my ($y, $m, $d) = split /-/, $_[0];
    $t->fake_time(timegm(0, 0, 4, $d, $m - 1, $y));
}

at('2026-11-25');    # a Wednesday

$t->world(http => <<'EOF', bundles => <<'EOF',
    gov_templates %%ROOT%%/templates;
    gov_events;
    gov_upload_store %%PREFIX%%/store max_size=64k;
    gov_upload_link_secret_file %%PREFIX%%/conf/link.secret;
EOF
    gov_material photo "照片" tolerable=3;
    gov_material id_card "身份证";
    gov_material hukou_book "户口簿" elicense tolerable=5;
    gov_field name "姓名";
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend /internal/dept; callback_secret_file dept.secret;
                   materials photo id_card; fields name; time_limit 3; }
    gov_item police { name "户口登记"; department "公安局";
                      backend /internal/dept; callback_secret_file dept.secret;
                      materials photo hukou_book; fields name; time_limit 5; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc police;
                         time_limit 10; }
EOF
          server => "    location /uploads/ { gov_upload; }\n");

my $ttl = 100 * 86400;
my $zhang = '110101199001011234';
my %auth = $t->bearer(sub => $zhang, ttl => $ttl);
my %other = $t->bearer(sub => '310101198505052345', ttl => $ttl);

sub apply {
    my ($doc) = @_;
    return $t->post('/bundles/newborn/applications', body => encode_json($doc),
                    headers => { 'Content-Type' => 'application/json', %auth });
}

sub supply {
    my ($id, $body, %h) = @_;
    return $t->post("/progress/$id/materials",
                    body => ref $body ? encode_json($body) : $body,
                    headers => { 'Content-Type' => 'application/json', %auth,
                                 %h });
}

sub progress { $t->get("/progress/$_[0]", headers => \%auth)->{json} }

sub step {
    my ($id, $item) = @_;
    my ($s) = grep { $_->{item} eq $item } @{ progress($id)->{steps} };
    return $s;
}

sub events {
    return [ map { { id => $_->[0], @{ $_->[1] } } }
             @{ $t->redis_cmd('XRANGE', 'gov:events', '-', '+') || [] } ];
}

# --- the guide ------------------------------------------------------------------

my $guide = $t->get('/bundles/newborn')->{json};
my %m = map { $_->{id} => $_ } @{ $guide->{materials} };
is($m{photo}{tolerable}, 3, 'the guide: photo tolerable for 3 working days');
ok(!exists $m{id_card}{tolerable}, '... id_card not tolerable');
like(decode_utf8($t->get('/bundles/newborn', headers => { Accept => 'text/html' })
                  ->{content}),
     qr/照片\s+<span class="badge">可容缺：承诺后 3 个工作日内补交/,
     '... and its page says so');

# --- what validation refuses, all at once ------------------------------------

my $before = $t->redis_cmd('DBSIZE');
my $res = apply({ fields => { name => '王小宝' }, promises => 'photo',
                  materials => { id_card => 'ref-1' } });
is($res->{status}, 422, '"promises" not an array: 422');
is_deeply($res->{json}{invalid}, [ { id => 'promises', reason => 'not_an_array' } ],
          '... not_an_array');
is_deeply($res->{json}{missing}, [ 'photo', 'hukou_book' ],
          '... and the materials missing without a promise, at once');

$res = apply({ fields => { name => '王小宝' },
               promises => [ 'id_card', 'nope', 'photo', 7 ],
               materials => { hukou_book => 'ref-2' } });
is($res->{status}, 422, 'promises of the wrong materials: 422');
is_deeply([ sort map { "$_->{id}:$_->{reason}" } @{ $res->{json}{invalid} } ],
          [ 'id_card:not_tolerable', 'nope:unknown_material',
            'promises:not_a_string' ],
          '... not_tolerable, unknown_material, not_a_string');
is_deeply($res->{json}{missing}, [ 'id_card' ],
          '... a material not tolerable still missing; the promised photo not');
is($t->redis_cmd('DBSIZE'), $before, '... nothing stored');

# --- a promise kept ---------------------------------------------------------------

$res = apply({ fields => { name => '王小宝' }, promises => [ 'photo', 'hukou_book' ],
               materials => { id_card => 'ref-1' } });
is($res->{status}, 201, 'photo and hukou_book promised: 201');
my $id = $res->{json}{id};
my $doc = decode_json($t->redis_cmd('HGET', "gov:app:$id", 'doc'));
is_deeply($doc->{promises},
          [ { material => 'photo', due => '2026-11-30' },
            { material => 'hukou_book', due => '2026-12-02' } ],
          'the promises kept with their due days (3 and 5 working days, '
          . 'the weekend skipped)');
my ($sent) = grep { decode_json($_->{body})->{id} eq $id }
             $t->backend_requests('dept');
is_deeply(decode_json($sent->{body})->{promises}, $doc->{promises},
          'the departments are told of the promises');
is_deeply($t->redis_cmd('ZRANGE', 'gov:promises', 0, -1, 'WITHSCORES'),
          [ "$id|photo", 20261130, "$id|hukou_book", 20261202 ],
          'each promise awaits the sweep by its day');

my $p = progress($id);
is($p->{status}, 'processing', 'progress: processing');
my %st = map { $_->{item} => $_ } @{ $p->{steps} };
is_deeply($st{nhc}{pending},
          [ { material => 'photo', name => '照片', due => '2026-11-30',
              overdue => JSON::PP::false } ],
          'the nhc step: pending photo with its due day');
is_deeply([ map { $_->{material} } @{ $st{police}{pending} } ],
          [ 'photo', 'hukou_book' ], 'the police step: photo and hukou_book');
ok(!$st{nhc}{overdue}, '... not overdue');

my $page = decode_utf8($t->get("/progress/$id",
                               headers => { %auth, Accept => 'text/html' })->{content});
like($page, qr/承诺后补的材料（容缺受理）/, 'the page lists the promised materials');
like($page, qr/户口簿：请在 <strong>2026-12-02<\/strong> 前补交/, '... each with its day');
like($page, qr{<form method="post" action="/progress/$id/materials" accept-charset="utf-8" enctype="multipart/form-data" id="supply">},
     '... and a form to supply them, with files');

# the supplement's mistakes
is(supply($id, { materials => { photo => 'ref-9' } }, %other)->{status}, 404,
   'another citizen supplying: 404');
is($t->post("/progress/$id/materials", body => '{"materials":{}}',
            headers => { 'Content-Type' => 'application/json' })->{status},
   401, 'without identity: 401');
$res = supply($id, '{"materials":');
is($res->{status}, 400, 'malformed JSON: 400');
$res = supply($id, { materials => {} });
is($res->{status}, 422, 'nothing supplied: 422');
is_deeply($res->{json}, { error => 'invalid_supplement',
                          missing => [ 'photo', 'hukou_book' ], invalid => [] },
          '... invalid_supplement, the pending materials missing');
$res = supply($id, { materials => { id_card => 'ref-3', photo => 'elicense',
                                    hukou_book => "a\x01b" } });
is($res->{status}, 422, 'wrong supplements: 422');
is_deeply([ sort map { "$_->{id}:$_->{reason}" } @{ $res->{json}{invalid} } ],
          [ 'hukou_book:control_character', 'id_card:not_promised',
            'photo:elicense_not_allowed' ],
          '... every problem at once');
is_deeply(decode_json($t->redis_cmd('HGET', "gov:app:$id", 'doc'))->{materials},
          { id_card => 'ref-1' }, '... left as it was');

$res = supply($id, { materials => { photo => 'ref-photo' } });
is($res->{status}, 202, 'the photo supplied: 202');
is($res->{json}{id}, $id, '... with the progress document');
%st = map { $_->{item} => $_ } @{ $res->{json}{steps} };
ok(!exists $st{nhc}{pending}, '... nothing pending on the nhc step');
is_deeply([ map { $_->{material} } @{ $st{police}{pending} } ], [ 'hukou_book' ],
          '... the police step waits for hukou_book only');
$doc = decode_json($t->redis_cmd('HGET', "gov:app:$id", 'doc'));
is($doc->{materials}{photo}, 'ref-photo', 'the document has the photo');
is_deeply($t->redis_cmd('ZRANGE', 'gov:promises', 0, -1), [ "$id|hukou_book" ],
          '... its promise no longer swept');

ok($t->wait_for(sub {
    2 == grep { ($_->{headers}{'x-gov-supplement'} // '') eq '1' }
         $t->backend_requests('dept') }, 10),
   'both steps that need the photo get it, with X-Gov-Supplement: 1');
my @sup = grep { ($_->{headers}{'x-gov-supplement'} // '') eq '1' }
          $t->backend_requests('dept');
is_deeply([ sort map { $_->{headers}{'x-gov-item'} } @sup ], [ 'nhc', 'police' ],
          '... nhc and police');
my $sp = decode_json($sup[0]{body});
is_deeply([ $sp->{id}, $sp->{supplement}, $sp->{materials} ],
          [ $id, JSON::PP::true, { photo => 'ref-photo' } ],
          '... the application, "supplement": true, the material');
ok($t->wait_for(sub {
    !grep { exists decode_json($_)->{supply} }
         values %{ { @{ $t->redis_cmd('HGETALL', "gov:steps:$id") } } } }, 10),
   'the deliveries recorded');
is(supply($id, { materials => { photo => 'ref-again' } })->{status}, 422,
   'the photo again: 422 (no longer promised)');
my @ev = grep { $_->{type} eq 'supplied' } @{ events() };
is(scalar @ev, 1, 'one "supplied" event');
is($ev[0]{materials}, 'photo', '... naming the material');

# --- a promise broken -------------------------------------------------------------

at('2026-12-02');
is(step($id, 'police')->{pending}[0]{overdue}, JSON::PP::false,
   'on its due day hukou_book is not late');
is(progress($id)->{status}, 'processing', '... still processing');
at('2026-12-03');
ok($t->wait_for(sub { progress($id)->{status} eq 'attention' }, 10),
   'the day after: the status is attention');
my $police = step($id, 'police');
ok($police->{overdue}, '... the step overdue');
ok($police->{pending}[0]{overdue}, '... its pending hukou_book overdue');
ok(!step($id, 'nhc')->{overdue}, '... the nhc step (photo supplied) is not');
like(decode_utf8($t->get("/progress/$id",
                         headers => { %auth, Accept => 'text/html' })->{content}),
     qr/户口簿：请在 <strong>2026-12-02<\/strong> 前补交<span class="badge over">已逾期/,
     '... and the page says so');
ok($t->wait_for(sub { grep { $_->{type} eq 'promise_overdue' } @{ events() } }, 10),
   'the sweep tells of the broken promise');
sleep 6;
@ev = grep { $_->{type} eq 'promise_overdue' } @{ events() };
is(scalar @ev, 1, '... once');
is($ev[0]{material}, 'hukou_book', '... naming the material');
is($ev[0]{application}, $id, '... and the application');
is($t->redis_cmd('ZCARD', 'gov:promises'), 0, 'nothing left to sweep');

# late is still better than never
$res = supply($id, { materials => { hukou_book => 'ref-book' } });
is($res->{status}, 202, 'hukou_book supplied late: 202');
is($res->{json}{status}, 'processing', '... processing again');
is(supply($id, { materials => { hukou_book => 'x' } })->{status}, 409,
   'nothing left to supply: 409');

# withdrawn: nobody is left to take it
$res = apply({ fields => { name => '王小五' }, promises => [ 'photo' ],
               materials => { id_card => 'ref-1', hukou_book => 'ref-2' } });
my $wid = $res->{json}{id};
$res = $t->post("/progress/$wid/withdrawal",
                body => encode_json({ reason => '不办了' }),
                headers => { 'Content-Type' => 'application/json', %auth });
is($res->{status}, 200, 'an application with a promise withdrawn')
    or diag($res->{content});
$res = supply($wid, { materials => { photo => 'ref-late' } });
is($res->{status}, 409, 'its promised photo supplied after: 409');
is($res->{json}{error}, 'application_closed', '... application_closed');
ok(!exists decode_json($t->redis_cmd('HGET', "gov:app:$wid", 'doc'))
              ->{materials}{photo}, '... nothing kept');

# --- the form: a ticked 承诺后补 box, then the file ------------------------------

at('2026-12-04');
my $form = decode_utf8($t->get('/bundles/newborn/apply',
                               headers => { %auth, Accept => 'text/html' })->{content});
like($form, qr/<input type="checkbox" name="promises.photo" value="1"> 承诺后补：暂缺此材料，受理后 3 个工作日内补交/,
     'the form offers 承诺后补 for a tolerable material');
unlike($form, qr/name="promises.id_card"/, '... not for another');
unlike($form, qr/id="in-photo" name="materials.photo"[^>]* required/,
       '... whose file is then not required');

$res = $t->post('/bundles/newborn/applications',
                body => 'fields.name=%E7%8E%8B&materials.id_card=ref-1'
                      . '&materials.hukou_book=ref-2&promises.photo=1',
                headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                             Accept => 'text/html', %auth });
is($res->{status}, 201, 'the form with the box ticked: 201');
my ($fid) = ($res->{headers}{location} // '') =~ m{/progress/(\w+)};
like(decode_utf8($res->{content}), qr/id="app-id">$fid</, '... the receipt page');
like(decode_utf8($res->{content}),
     qr{<li>照片：承诺后补，请于此日前补交 2026-12-09</li>},
     '... which lists the promise with its day');
is_deeply(decode_json($t->redis_cmd('HGET', "gov:app:$fid", 'doc'))->{promises},
          [ { material => 'photo', due => '2026-12-09' } ],
          '... the promise kept');

$res = $t->post('/bundles/newborn/applications',
                body => 'fields.name=%E7%8E%8B&materials.hukou_book=ref-2'
                      . '&promises.id_card=1',
                headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                             Accept => 'text/html', %auth });
is($res->{status}, 422, 'a box for a material not tolerable: 422, the form again');
like(decode_utf8($res->{content}), qr/此材料不能容缺，请现在提供/,
     '... saying it cannot wait');

my $b = 'XyZ';
my $jpeg = "\xff\xd8\xff\xe0the photo " . time;
my $body = "--$b\r\nContent-Disposition: form-data; name=\"materials.photo\"; "
         . "filename=\"p.jpg\"\r\n\r\n$jpeg\r\n--$b--\r\n";
$res = $t->post("/progress/$fid/materials", body => $body,
                headers => { %auth, Accept => 'text/html',
                             'Content-Type' => "multipart/form-data; boundary=$b" });
is($res->{status}, 303, 'the photo supplied as a file from the page: 303');
my $hex = sha256_hex($jpeg);
is(decode_json($t->redis_cmd('HGET', "gov:app:$fid", 'doc'))->{materials}{photo},
   "upload:$hex", '... stored and named in the document');
is($t->redis_cmd('HGET', "gov:up:$hex", 'refs'), 1, '... the upload referenced');
ok($t->wait_for(sub {
    grep { ($_->{headers}{'x-gov-supplement'} // '') eq '1'
           && ($_->{headers}{'x-gov-application'} // '') eq $fid }
    $t->backend_requests('dept') }, 10), '... and delivered');
my ($fs) = grep { ($_->{headers}{'x-gov-supplement'} // '') eq '1'
                  && ($_->{headers}{'x-gov-application'} // '') eq $fid }
           $t->backend_requests('dept');
like(decode_json($fs->{body})->{materials}{photo}{url},
     qr{^/uploads/$hex\?expires=\d+&sig=[0-9a-f]{64}$},
     '... with a signed link to the file');

$t->stop_nginx;
$t->check_logs;

# --- nginx -t -------------------------------------------------------------------

for my $case ([ 'gov_material x "X" tolerable=0;',
                qr/invalid number "0", must be from 1 to 365 in \S+:\d+/ ],
              [ 'gov_material x "X" tolerable=soon;', qr/invalid number "soon"/ ],
              [ 'gov_material x "X" tolerable=2 tolerable=3;',
                qr/invalid parameter "tolerable=3" in gov_material, only "elicense" and "tolerable=DAYS" may follow the name, once each in \S+:\d+/ ],
              [ 'gov_material x "X" later;', qr/invalid parameter "later" in gov_material/ ])
{
    $t->write_conf(http => "    $case->[0]\n");
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '... with a precise message');
}

$t->write_file('logs/error.log', '');
$t->done;
done_testing();
