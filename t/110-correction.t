#!/usr/bin/perl

# CONTRACT section 9, what departments send: a correction request (补正告知)
# checked against the item's materials and fields, stored on the step and
# shown at the top of the progress page with its due date; a result on a
# finished step, shown with its kind in Chinese.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use POSIX qw(strftime);
use Time::Local qw(timegm);
use GovTest;

my $t = GovTest->world(http => <<'EOF', bundles => <<'EOF',
    gov_templates %%ROOT%%/templates;
    gov_session_cookie GOVSID insecure;
EOF
    gov_material photo "婴儿近期免冠照片";
    gov_material id_card "身份证" elicense;
    gov_material other "其他材料";
    gov_field name "新生儿姓名";
    gov_field phone "联系电话" optional;
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend /internal/dept; callback_secret_file dept.secret;
                   materials photo id_card; fields name phone;
                   time_limit 3; }
    gov_item other { name "其他事项"; department "其他部门";
                     backend /internal/dept; callback_secret_file dept.secret;
                     materials other; time_limit 3; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc;
                         time_limit 10; }
EOF
    server => "    location = /auth/login { gov_login; }\n");

my $zhang = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234', name => '张三');
my %auth = (Authorization => "Bearer $zhang");

my $res = $t->post('/bundles/newborn/applications',
                   body => encode_json({ fields => { name => '王小宝' },
                                         materials => { photo => 'ref-1',
                                                        id_card => 'elicense' } }),
                   headers => { 'Content-Type' => 'application/json', %auth });
is($res->{status}, 201, 'an application');
my $id = $res->{json}{id};

my $n = 0;

sub callback {
    my ($doc) = @_;
    # each body its own signature: the same one twice is a replay
    return $t->callback($id, 'nhc', { %$doc, seq => ++$n });
}

sub step { $t->get("/progress/$id", headers => \%auth)->{json}{steps}[0] }

is(callback({ state => 'accepted' })->{status}, 204, 'accepted');

# --- what a department may ask --------------------------------------------------

my $due = strftime('%Y-%m-%d', localtime(time + 20 * 86400));

$res = callback({ state => 'correction',
                  request => { materials => [ 'other' ], note => 'x' } });
is($res->{status}, 422, 'a material of another item: 422');
is_deeply($res->{json}, { error => 'unknown_material', id => 'other' },
          'naming it');
$res = callback({ state => 'correction',
                  request => { fields => [ 'nope' ] } });
is_deeply($res->{json}, { error => 'unknown_field', id => 'nope' },
          'an unknown field: unknown_field');
$res = callback({ state => 'correction',
                  request => { materials => [ 'photo' ], due => '2026-02-30' } });
is($res->{json}{error}, 'invalid_request', 'a due date that is no day');
$res = callback({ state => 'correction', request => { materials => [] } });
is($res->{json}{error}, 'invalid_request', 'a request asking nothing');
$res = callback({ state => 'correction',
                  request => { materials => [ 'photo', 'photo' ] } });
is($res->{json}{error}, 'invalid_request', 'an id twice');
$res = callback({ state => 'correction',
                  request => { materials => [ 'photo' ], extra => 1 } });
is($res->{json}{error}, 'invalid_request', 'an unknown key');
$res = callback({ state => 'reviewing',
                  request => { materials => [ 'photo' ] } });
is($res->{json}{error}, 'invalid_request', 'a request with another state');
is(step()->{state}, 'accepted', 'none of them changed the step');

$res = callback({ state => 'correction', note => '请补正',
                  request => { materials => [ 'photo' ], fields => [ 'name' ],
                               note => '照片不清晰，请重新上传；姓名与出生证明不一致',
                               due => $due } });
is($res->{status}, 204, 'a correction request');

my $doc = $t->get("/progress/$id", headers => \%auth)->{json};
is($doc->{status}, 'attention', 'the application needs the citizen');
my $c = $doc->{steps}[0]{correction};
is_deeply([ @$c{qw(materials fields note due)} ],
          [ [ 'photo' ], [ 'name' ], '照片不清晰，请重新上传；姓名与出生证明不一致', $due ],
          'the step shows what was asked, as asked');
is_deeply($c->{needed}, [ { id => 'photo', name => '婴儿近期免冠照片', kind => 'material' },
                          { id => 'name', name => '新生儿姓名', kind => 'field',
                            value => '王小宝' } ],
          'with the names the citizen knows, a field with what was submitted');
ok(!$c->{due_warning} && !$c->{due_overdue}, 'its due date far away');

my $page = decode_utf8($t->get("/progress/$id",
                               headers => { %auth, Accept => 'text/html' })->{content});
like($page, qr/需要补正：出生医学证明.*照片不清晰.*<li>婴儿近期免冠照片<\/li>\s*<li>新生儿姓名<\/li>.*请在 <strong>\Q$due\E<\/strong> 前补正/s,
     'the page says what is needed, why and by when');
ok(index($page, '需要补正') < index($page, '<div class="card">'),
   'at the top, before the steps');

my $soon = strftime('%Y-%m-%d', localtime(time));
is(callback({ state => 'correction',
              request => { materials => [ 'photo' ], due => $soon } })->{status},
   409, 'correction to correction is not a move');

is(callback({ state => 'received' })->{status}, 204,
   'the department has the supplement');
ok(!exists step()->{correction}, 'the request is gone with the state');
ok(!exists step()->{note}, 'and so is its note');

is(callback({ state => 'accepted' })->{status}, 204, 'accepted again');
is(callback({ state => 'correction',
              request => { materials => [ 'photo' ], due => $soon } })->{status},
   204, 'a request due today');
ok(step()->{correction}{due_warning}, 'warned: one working day or less');

is(callback({ state => 'received' })->{status}, 204, 'received');
is(callback({ state => 'accepted' })->{status}, 204, 'accepted');
is(callback({ state => 'reviewing' })->{status}, 204, 'reviewing');

# --- results ---------------------------------------------------------------------

$res = callback({ state => 'approved', result => { kind => 'fax' } });
is($res->{json}{error}, 'invalid_result', 'a result of an unknown kind: 422');
$res = callback({ state => 'reviewing', result => { kind => 'mail' } });
is($res->{json}{error}, 'invalid_result', 'a result with another state: 422');
$res = callback({ state => 'approved',
                  result => { kind => 'elicense', number => 'BC-2026-000123',
                              note => '可在"电子证照"中查看' } });
is($res->{status}, 204, 'approved with a result');

my $s = step();
is_deeply($s->{result}, { kind => 'elicense', kind_name => '电子证照',
                          number => 'BC-2026-000123',
                          note => '可在"电子证照"中查看' },
          'the step shows the result, its kind in Chinese');
$page = decode_utf8($t->get("/progress/$id",
                            headers => { %auth, Accept => 'text/html' })->{content});
like($page, qr/办理结果：电子证照　证照编号 BC-2026-000123/,
     'and the page');

is(callback({ state => 'delivered', result => { kind => 'mail',
                                                number => 'SF1234567890' } })->{status},
   204, 'delivered by mail');
is(step()->{result}{kind_name}, '邮寄', 'the newer result');


# --- answering online: POST /progress/ID/steps/ITEM/correction --------------------

my $li = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                   sub => '310101198505052345');
my $agent = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234', act => 'AGENT-3');

$res = $t->post('/bundles/newborn/applications',
                body => encode_json({ fields => { name => '王小宝' },
                                      materials => { photo => 'ref-1',
                                                     id_card => 'elicense' } }),
                headers => { 'Content-Type' => 'application/json', %auth });
$id = $res->{json}{id};
my $code = $res->{json}{query_code};

sub answer {
    my ($token, $doc, %o) = @_;
    return $t->post("/progress/$id/steps/" . ($o{item} // 'nhc') . '/correction',
                    body => ref $doc ? encode_json($doc) : $doc,
                    headers => { 'Content-Type' => $o{type} // 'application/json',
                                 ($token ? (Authorization => "Bearer $token") : ()),
                                 %{ $o{headers} || {} } });
}

my $good = { fields => { name => '王大宝' }, materials => { photo => 'ref-9' } };

is(answer($zhang, $good)->{status}, 409, 'no correction asked: 409');
is(answer($zhang, $good)->{json}{error}, 'not_in_correction', 'not_in_correction');

is(callback({ state => 'accepted' })->{status}, 204, 'accepted');
is(callback({ state => 'correction',
              request => { materials => [ 'photo' ], fields => [ 'name' ],
                           note => '照片不清晰', due => $due } })->{status},
   204, 'a correction request');

like(decode_utf8($t->get("/progress/$id",
                         headers => { %auth, Accept => 'text/html' })->{content}),
     qr/name="fields\.name" value="王小宝" required/,
     'the form starts from what was submitted');
$res = $t->get("/progress/$id?code=$code");
is($res->{status}, 200, 'the progress by query code');
ok(@{ $res->{json}{steps}[0]{correction}{needed} }
   && !grep({ exists $_->{value} } @{ $res->{json}{steps}[0]{correction}{needed} }),
   'shows the request, not what was submitted');

is(answer($li, $good)->{status}, 404, 'another citizen: 404');
is(answer(undef, $good)->{status}, 401, 'no identity: 401');
is(answer($zhang, $good, item => 'nope')->{status}, 404, 'an unknown item: 404');
is(answer($zhang, '{bad')->{status}, 400, 'malformed: 400');

$res = answer($zhang, { fields => { phone => '13800000000' },
                        materials => { id_card => 'elicense' } });
is($res->{status}, 422, 'what was not asked, and nothing that was: 422');
is_deeply([ sort @{ $res->{json}{missing} } ], [ 'name', 'photo' ],
          'every missing answer');
is_deeply([ sort map { "$_->{id}:$_->{reason}" } @{ $res->{json}{invalid} } ],
          [ 'id_card:not_requested', 'phone:not_requested' ],
          'and every id not asked for, at once');
is($res->{json}{error}, 'invalid_correction', 'invalid_correction');

$res = answer($zhang, { fields => { name => '王大宝' },
                        materials => { photo => 'upload:' . ('a' x 64) } });
is($res->{status}, 422, 'an upload that is not the citizen\'s: 422');
is($res->{json}{error}, 'unknown_upload', 'unknown_upload');
is(step()->{state}, 'correction', 'nothing changed');

# the days in correction: as if the request had come two weeks ago (ten
# working days: this server has no holidays), which the answer below ends
my $deadline0 = $t->get("/progress/$id", headers => \%auth)->{json}{deadline};
my $raw = decode_json($t->redis_cmd('HGET', "gov:steps:$id", 'nhc'));
my $asked = $raw->{paused_since};
$raw->{paused_since} -= 14;
$t->redis_cmd('HSET', "gov:steps:$id", 'nhc', encode_json($raw));
$t->redis_cmd('HINCRBY', "gov:app:$id", 'ver', 1);
$t->redis_cmd('DEL', "gov:doc:$id");

$res = answer($agent, $good);
is($res->{status}, 202, 'the agent answers for the citizen: 202');
is($res->{json}{id}, $id, 'with the progress document');
my $kept = decode_json($t->redis_cmd('HGET', "gov:steps:$id", 'nhc'));
is_deeply([ @{ JSON::PP->new->decode($kept->{supplement}) }{qw(fields materials)} ],
          [ $good->{fields}, $good->{materials} ], 'persisted first');
is($kept->{supplied_by}, 'AGENT-3', 'the agent recorded');

is(answer($zhang, $good)->{status}, 409, 'answered twice: 409');

$t->wait_for(sub { step()->{state} eq 'received' }, 10);
my ($delivered) = grep { ($_->{headers}{'x-gov-correction'} // '') eq '1' }
                  $t->backend_requests('dept');
ok($delivered, 'delivered to the department with X-Gov-Correction: 1');
my $body = decode_json($delivered->{body});
is_deeply([ @$body{qw(id item fields materials)} ],
          [ $id, 'nhc', $good->{fields}, $good->{materials} ],
          'the answer, as a step is sent');
is($delivered->{headers}{'x-gov-application'}, $id, 'with X-Gov-Application');
is_deeply([ @{ $delivered->{headers} }{qw(x-gov-subject x-gov-actor)} ],
          [ '110101199001011234', 'AGENT-3' ],
          'from the citizen, answered by the agent: both told');
is(step()->{state}, 'received', "the department's 2xx moves the step to received");
$raw = decode_json($t->redis_cmd('HGET', "gov:steps:$id", 'nhc'));
is_deeply([ map { [ @$_[0, 1] ] } @{ $raw->{pauses} } ],
          [ [ $asked - 14, $asked ] ],
          'the days in correction end when the answer is received');
my $p = $raw->{pauses}[0];
ok(@$p == 4 && $p->[3] >= $p->[2],
   '... with their working-day ordinals, for the statistics');
ok(!exists $raw->{paused_since}, 'the clock runs again');
sub plus_days {
    my ($date, $n) = @_;
    my ($y, $m, $d) = split /-/, $date;
    return strftime('%Y-%m-%d', gmtime(timegm(0, 0, 12, $d, $m - 1, $y) + $n * 86400));
}
is($t->get("/progress/$id", headers => \%auth)->{json}{deadline},
   plus_days($deadline0, 14),
   'the deadline moves by the ten working days in correction, no more');
ok(!exists step()->{correction}, 'the request is gone');
ok(!exists step()->{note}, 'with its note');

is(answer($zhang, $good)->{status}, 409, 'no longer in correction: 409');

# the page's form
is(callback({ state => 'accepted' })->{status}, 204, 'accepted');
is(callback({ state => 'correction',
              request => { fields => [ 'name' ] } })->{status}, 204,
   'a request for the name alone');
$res = answer($zhang, 'fields.name=%E7%8E%8B%E4%BA%8C%E5%AE%9D',
              type => 'application/x-www-form-urlencoded',
              headers => { Accept => 'text/html' });
is($res->{status}, 303, 'a form answer: 303');
is($res->{headers}{location}, "/progress/$id", 'back to the progress page');
$res = answer(undef, 'fields.name=x', type => 'application/x-www-form-urlencoded',
              headers => { Cookie => 'GOVSID=' . ('A' x 43),
                           Origin => 'http://evil.example' });
is($res->{status}, 401, 'a stale cookie from anywhere: 401 before anything');

# the answer is delivered and the department's 2xx moves the step (a
# callback of its own would race the delivery: 409 when it comes second)
ok($t->wait_for(sub { step()->{state} eq 'received' }, 10),
   'the form answer delivered: received');
is(callback({ state => 'accepted' })->{status}, 204, 'accepted');
is(callback({ state => 'correction',
              request => { fields => [ 'name' ] } })->{status}, 204,
   'another request');
$res = $t->post('/auth/login', body => "token=$zhang", headers => {
                    'Content-Type' => 'application/x-www-form-urlencoded' });
my ($sid) = ($res->{headers}{'set-cookie'} // '') =~ /^GOVSID=([^;]+)/;
$res = answer(undef, 'fields.name=x', type => 'application/x-www-form-urlencoded',
              headers => { Cookie => "GOVSID=$sid",
                           Origin => 'http://evil.example' });
is($res->{status}, 403, 'with the session cookie from a foreign origin: 403');
is(step()->{state}, 'correction', 'nothing answered');
$res = answer(undef, 'fields.name=x', type => 'application/x-www-form-urlencoded',
              headers => { Cookie => "GOVSID=$sid" });
is($res->{status}, 202, 'from no foreign page: 202');

# Redis down (last: a restarted Redis here keeps nothing)
ok($t->wait_for(sub { step()->{state} eq 'received' }, 10),
   'that answer delivered: received');
is(callback({ state => 'accepted' })->{status}, 204, 'accepted');
is(callback({ state => 'correction',
              request => { fields => [ 'name' ] } })->{status}, 204,
   'a last request');
$t->stop_redis;
$res = answer($zhang, { fields => { name => '王三宝' } });
is($res->{status}, 503, 'an answer while Redis is down: 503, nothing kept');
$t->start_redis;

$t->done;
done_testing();
