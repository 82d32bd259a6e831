#!/usr/bin/perl

# 一件事 bundles: configuration errors at nginx -t, the list and the guide,
# submissions (validation, persistence before fan-out, parallel dispatch),
# retries that lose nothing, Idempotency-Key, signed callbacks and the
# state machine, Redis down, a full nginx restart with steps queued.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(hmac_sha256_hex);
use Encode qw(decode_utf8);
use Time::HiRes qw(time sleep);
use GovTest;

my $t = GovTest->new;

# an append-only file, synced on every write: a killed Redis loses nothing
my @AOF = (args => [ '--appendonly', 'yes', '--appendfsync', 'always' ]);
$t->start_redis(@AOF);
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);

my $secret = 'department-secret-0123456789';
$t->write_file('conf/nhc.secret', "$secret\n");
$t->write_file('conf/police.secret', "$secret-police\n");
$t->write_file('conf/cdc.secret', "$secret-cdc\n");

my $flaky = $t->prefix . '/cdc.down';
$t->write_file('cdc.down', '1');

for my $dept (qw(nhc police cdc)) {
    $t->backend(sub {
        my ($req) = @_;
        if ($dept eq 'cdc' && -e $flaky) {
            # the fault the file names; "1": busy
            open my $fh, '<', $flaky;
            my $mode = $fh ? do { local $/; <$fh> } // '' : '';
            return { status => 200, body => '{}' } if $mode eq 'noreceipt';
            return { status => 200, body => '<html>oops' }
                if $mode eq 'garbage';
            return { close => 1 } if $mode eq 'close';
            return { status => 503, body => '{"error":"busy"}' };
        }
        my $app = decode_json($req->{body});
        return { status => 200,
                 body => encode_json({ receipt => uc($dept) . '-'
                                                  . $app->{id} }) };
    }, name => $dept);
}

$t->backend(sub {
    my ($req) = @_;
    my $app = decode_json($req->{body});
    return { status => 200, delay => 4,
             body => encode_json({ receipt => "SLOW-$app->{id}" }) };
}, name => 'slow');

my $BUNDLES = <<'EOF';
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_calendar %%ROOT%%/conf/calendar/cn-2026.txt;
    gov_dispatch_timeout 2s;

    gov_material id_card "身份证";
    gov_material birth_cert "出生医学证明" elicense;
    gov_material photo "照片";
    gov_field name "姓名";
    gov_field id_number "身份证号" "pattern=[0-9]{17}[0-9X]";
    gov_field phone "电话" "pattern=1[0-9]{10}" optional;

    gov_item nhc {
        name "出生医学证明";
        department "卫生健康委";
        backend /internal/nhc;
        callback_secret_file nhc.secret;
        materials id_card;
        fields name id_number;
        time_limit 5;
    }

    gov_item police {
        name "户口登记";
        department "公安局";
        backend /internal/police;
        callback_secret_file police.secret;
        materials id_card birth_cert;
        fields name id_number phone;
        time_limit 10;
        depends nhc;
    }

    gov_item cdc {
        name "预防接种证";
        department "疾控中心";
        backend /internal/cdc;
        callback_secret_file cdc.secret;
        materials photo;
        fields name;
        time_limit 3;
    }

    gov_bundle newborn {
        name "新生儿出生一件事";
        code NB;
        items nhc police cdc;
        time_limit 10;
    }

    gov_item slowdept {
        name "慢部门";
        department "档案馆";
        backend /internal/slow;
        callback_secret_file nhc.secret;
        fields name;
        time_limit 2;
    }

    gov_bundle slow {
        name "慢件";
        code SL;
        items slowdept;
        time_limit 2;
    }
EOF

my $SERVER = <<'EOF';
    location /bundles/ { gov_bundles; }
    location /callback/ { gov_callback; }
    location = /gov/status { gov_status; }
    location /internal/nhc {
        internal;
        proxy_pass http://127.0.0.1:%%BACKEND:nhc%%/steps;
    }
    location /internal/police {
        internal;
        proxy_pass http://127.0.0.1:%%BACKEND:police%%/steps;
    }
    location /internal/cdc {
        internal;
        proxy_pass http://127.0.0.1:%%BACKEND:cdc%%/steps;
    }
    location /internal/slow {
        internal;
        proxy_pass http://127.0.0.1:%%BACKEND:slow%%/steps;
    }
EOF

# --- configuration mistakes ------------------------------------------------------

my @bad = (
    [ 'materials nope;', qr/item "nhc" names unknown material "nope" in \S+nginx\.conf:\d+/ ],
    [ 'fields nope;', qr/item "nhc" names unknown field "nope" in \S+:\d+/ ],
    [ 'depends police;', qr/dependency cycle: (nhc -> police -> nhc|police -> nhc -> police) in \S+:\d+/ ],
    [ 'depends ghost;', qr/item "nhc" depends on unknown item "ghost" in \S+:\d+/ ],
    [ 'callback_secret_file /nonexistent;', qr/cannot open "\/nonexistent" \(2: No such file or directory\) in \S+:\d+/ ],
    [ 'time_limit 0;', qr/invalid number "0", must be from 1 to 3650 in \S+:\d+/ ],
    [ 'colour red;', qr/unknown directive "colour" in gov_item in \S+:\d+/ ],
);

for my $case (@bad) {
    my ($line, $re) = @$case;
    (my $http = $BUNDLES) =~ s/(time_limit 5;)/$1\n        $line/;
    $t->write_conf(http => $http, server => $SERVER);
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: $line");
    like($out, $re, 'with a precise message');
}

for my $case (
    [ 's/code NB;/code nb;/', qr/invalid code "nb" of bundle "newborn": 2-4 upper-case letters/ ],
    [ 's/code NB;/code NBXYZ;/', qr/invalid code "NBXYZ"/ ],
    [ 's/items nhc police cdc;/items nhc police cdc ghost;/', qr/bundle "newborn" names unknown item "ghost" in \S+:\d+/ ],
    [ 's/items nhc police cdc;/items police cdc;/', qr/item "police" of bundle "newborn" depends on "nhc", which the bundle does not include/ ],
    [ 's/gov_material photo "照片";/gov_material photo "照片";\n    gov_material photo "again";/', qr/duplicate material "photo" in \S+:\d+/ ],
    [ 's/pattern=1\[0-9\]\{10\}/pattern=1[0-9/', qr/invalid pattern of field "phone": pcre2_compile\(\) failed/ ],
    [ 's/backend \/internal\/cdc;//', qr/item "cdc" has no "backend" in \S+:\d+/ ],
    [ 's/gov_bundle newborn \{/gov_bundle newborn {}\n    gov_bundle newborn {/', qr/duplicate bundle "newborn"|needs "name"/ ],
)
{
    my ($sub, $re) = @$case;
    my $http = $BUNDLES;
    eval "\$http =~ $sub; 1" or die $@;
    $t->write_conf(http => $http, server => $SERVER);
    my ($rc, $out) = $t->test_conf;
    like($out, $re, "nginx -t: $sub");
}

$t->write_file('conf/bad-calendar.txt', "2026-01-01 holiday\n2026-02-30 workday\n");
(my $badcal = $BUNDLES) =~ s{gov_calendar \S+;}{gov_calendar bad-calendar.txt;};
$t->write_conf(http => $badcal, server => $SERVER);
my (undef, $calout) = $t->test_conf;
like($calout, qr/bad calendar line \S+bad-calendar\.txt:2: invalid date "2026-02-30" in \S+nginx\.conf:\d+/,
     'a bad calendar line names the calendar file and line');

# --- the running thing ---------------------------------------------------------------

$t->write_file('logs/error.log', '');
$t->write_conf(http => $BUNDLES, server => $SERVER);
my ($rc, $out) = $t->test_conf;
is($rc, 0, 'the configuration is valid') or diag($out);
$t->start_nginx;

my $res = $t->get('/bundles/');
is($res->{status}, 200, 'the bundle list');
is_deeply($res->{json}, { bundles => [ { id => 'newborn',
                                         name => decode_utf8('新生儿出生一件事'),
                                         items => 3, time_limit => 10 },
                                       { id => 'slow',
                                         name => decode_utf8('慢件'),
                                         items => 1, time_limit => 2 } ] },
          'lists every bundle');

$res = $t->get('/bundles/newborn');
is($res->{status}, 200, 'the guide');
my $guide = $res->{json};
is_deeply([ map { $_->{id} } @{ $guide->{items} } ], [ qw(nhc police cdc) ],
          'items in order');
is_deeply($guide->{items}[1]{depends}, [ 'nhc' ], 'with depends');
is_deeply([ map { [ $_->{id}, $_->{needed_by} ] } @{ $guide->{materials} } ],
          [ [ 'id_card', [ 'nhc', 'police' ] ], [ 'birth_cert', [ 'police' ] ],
            [ 'photo', [ 'cdc' ] ] ],
          'materials: the union, each once, with needed_by');
ok($guide->{materials}[1]{elicense}, 'elicense is marked');
is_deeply([ map { [ $_->{id}, $_->{required} ? 1 : 0 ] } @{ $guide->{fields} } ],
          [ [ 'name', 1 ], [ 'id_number', 1 ], [ 'phone', 0 ] ],
          'fields with required');
is($guide->{fields}[1]{pattern}, '[0-9]{17}[0-9X]', 'and their pattern');

is($t->get('/bundles/nope')->{status}, 404, 'an unknown bundle: 404');
is($t->post('/bundles/nope/applications', body => '{}',
            headers => { 'Content-Type' => 'application/json' })->{status},
   404, 'submitting to an unknown bundle: 404');

# --- submissions ------------------------------------------------------------------------

my $subject = '110101199001011234';
my $token = $t->token(key => 'hs', alg => 'HS256', kid => 'h1', sub => $subject,
                      act => 'AGENT-9');
my %auth = (Authorization => "Bearer $token",
            'Content-Type' => 'application/json');

my %good = (
    fields => { name => "张三 <b>\"O'Neil\"</b>; DROP TABLE x;--\n",
                id_number => '11010119900101123X' },
    materials => { id_card => 'ref-1', birth_cert => 'elicense',
                   photo => 'ref-2' },
);

sub submit {
    my ($doc, %h) = @_;
    return $t->post('/bundles/newborn/applications',
                    body => ref $doc ? encode_json($doc) : $doc,
                    headers => { %auth, %h });
}

$res = $t->post('/bundles/newborn/applications', body => encode_json(\%good),
                headers => { 'Content-Type' => 'application/json' });
is($res->{status}, 401, 'no identity: 401');
is($res->{json}{error}, 'unauthenticated', 'with the contract body');

$res = submit(\%good, 'Content-Type' => 'text/plain');
is($res->{status}, 415, 'not JSON: 415');

$res = submit('{"fields":');
is($res->{status}, 400, 'malformed JSON: 400');

$res = submit('[' x 5000 . ']' x 5000);
is($res->{status}, 400, 'deeply nested JSON: 400');

$res = submit('{"fields":{"name":"a","name":"b"}}');
is($res->{status}, 400, 'duplicate keys: 400');

$res = submit('{"x":"' . ('y' x 70000) . '"}');
is($res->{status}, 413, 'oversized: 413');

$res = submit({ fields => { id_number => '123', phone => 'abc', evil => 1 },
                materials => { photo => 'elicense' } });
is($res->{status}, 422, 'every problem at once: 422');
is_deeply($res->{json},
          { error => 'invalid_application',
            missing => [ qw(name id_card birth_cert) ],
            invalid => [ { id => 'id_number', reason => 'pattern_mismatch' },
                         { id => 'phone', reason => 'pattern_mismatch' },
                         { id => 'evil', reason => 'unknown_field' },
                         { id => 'photo', reason => 'elicense_not_allowed' } ] },
          'missing and invalid listed together');

is(scalar @{ $t->redis_cmd('KEYS', 'gov:app:*') }, 0,
   'refused submissions wrote nothing');
is(scalar(() = $t->backend_requests('nhc')), 0, 'and reached no department');

my $t0 = time;
$res = submit(\%good);
is($res->{status}, 201, 'a valid application: 201') or diag($res->{content});
my $app = $res->{json};
my $id = $app->{id};
like($id, qr/^NB\d{8}\d{6}$/, 'id: code, date and sequence');
like($id, qr/^NB\d{8}000001$/, 'the first of the day');
like($app->{query_code}, qr/^[2-9A-HJ-NP-Z]{8}$/, 'an 8-character query code');
is($res->{headers}{location}, "/progress/$id", 'Location');
is($app->{status}, 'processing', 'status processing');
like($app->{deadline}, qr/^\d{4}-\d\d-\d\d$/, 'a deadline date');
is_deeply({ map { $_->{item} => [ $_->{state}, $_->{receipt} ] }
            @{ $app->{steps} } },
          { nhc => [ 'received', "NHC-$id" ], police => [ 'queued', undef ],
            cdc => [ 'queued', undef ] },
          'nhc received its step, police waits for nhc, cdc is down');

my @nhc = $t->backend_requests('nhc');
is(scalar @nhc, 1, 'nhc got the application once');
is($nhc[0]{method}, 'POST', 'as a POST');
is($nhc[0]{headers}{'x-gov-application'}, $id, 'with X-Gov-Application');
is($nhc[0]{headers}{'x-gov-item'}, 'nhc', 'X-Gov-Item');
is($nhc[0]{headers}{'x-gov-subject'}, $subject, 'X-Gov-Subject');
is($nhc[0]{headers}{'x-gov-actor'}, 'AGENT-9', 'X-Gov-Actor');
is($nhc[0]{headers}{authorization}, undef, 'never the citizen\'s token');
my $sent = decode_json($nhc[0]{body});
is($sent->{fields}{name}, $good{fields}{name},
   'field values with HTML, quotes, newlines and SQL arrive as they were');
is($sent->{id}, $id, 'the body carries the id');

my $doc = decode_json($t->redis_cmd('HGET', "gov:app:$id", 'doc'));
is($doc->{subject}, $subject, 'the application is in Redis');
my $steps = $t->redis_cmd('HGETALL', "gov:steps:$id");
my %steps = @$steps;
is(decode_json($steps{nhc})->{state}, 'received', 'with its steps');
unlike($t->redis_cmd('HGET', "gov:app:$id", 'code'), qr/\Q$app->{query_code}\E/,
       'the query code is stored hashed');

# --- the retry queue delivers once the department is back -------------------------------

my @cdc = $t->backend_requests('cdc');
ok(@cdc >= 1, 'cdc was tried');
unlink $flaky;
ok($t->wait_for(sub {
    my $s = $t->redis_cmd('HGET', "gov:steps:$id", 'cdc');
    $s && decode_json($s)->{state} eq 'received';
}, 15), 'cdc received the step once it came back');
my $cdc_after = () = $t->backend_requests('cdc');
sleep 2.5;
is(scalar(() = $t->backend_requests('cdc')), $cdc_after,
   'and is never sent it again after its 2xx');
is($t->redis_cmd('ZSCORE', 'gov:retry', "$id|cdc"), undef,
   'the retry queue no longer holds it');
my @same = grep { $_->{headers}{'x-gov-application'} eq $id }
           $t->backend_requests('cdc');
ok(@same >= 2, 'every attempt carried the same X-Gov-Application');

# --- callbacks -----------------------------------------------------------------------------

sub callback {
    my ($app_id, $item, $body, %o) = @_;
    my $ts = $o{ts} // time;
    $ts = int $ts;
    my $key = $o{secret} // ($item eq 'nhc' ? $secret : "$secret-$item");
    my $sig = GovTest::sig_v2($key, $ts, 'POST', "/callback/$app_id/$item", $body);
    return $t->post("/callback/$app_id/$item", body => $body,
                    headers => { 'Content-Type' => 'application/json',
                                 'X-Gov-Timestamp' => $ts,
                                 'X-Gov-Signature' => $o{sig} // $sig });
}

$res = callback($id, 'nhc', '{"state":"accepted"}', secret => 'wrong');
is($res->{status}, 401, 'a wrong signature: 401');
$res = callback($id, 'nhc', '{"state":"accepted"}', sig => '');
is($res->{status}, 401, 'no signature: 401');
$res = callback($id, 'nhc', '{"state":"accepted"}', ts => time - 301);
is($res->{status}, 401, 'a timestamp 301s old: 401');
$res = callback($id, 'nhc', '{"state":"accepted"}', ts => time + 301);
is($res->{status}, 401, 'a timestamp 301s ahead: 401');
$res = callback('NB20260101999999', 'nhc', '{"state":"accepted"}');
is($res->{status}, 404, 'an unknown application: 404');
$res = callback($id, 'ghost', '{"state":"accepted"}');
is($res->{status}, 404, 'an unknown item: 404');

my $ts = int time;
my $body = '{"state":"accepted","note":"材料齐全"}';
$res = callback($id, 'nhc', $body, ts => $ts);
is($res->{status}, 204, 'a signed legal move: 204');
$res = callback($id, 'nhc', $body, ts => $ts);
is($res->{status}, 409, 'the same timestamp and signature again: 409');
is($res->{json}{error}, 'replay', 'as a replay');

$res = callback($id, 'nhc', '{"state":"delivered"}');
is($res->{status}, 409, 'an illegal move: 409');
is($res->{json}{state}, 'accepted', 'with the current state');

$res = callback($id, 'nhc', '{"state":"bogus"}');
is($res->{status}, 422, 'an unknown state: 422');

is(decode_json($t->redis_cmd('HGET', "gov:steps:$id", 'nhc'))->{note},
   decode_utf8('材料齐全'), 'the note is kept');

# approving nhc releases police, which depends on it

is(scalar(() = $t->backend_requests('police')), 0, 'police not contacted yet');
is(callback($id, 'nhc', '{"state":"approved"}')->{status}, 204,
   'nhc approved');
ok($t->wait_for(sub {
    my $s = $t->redis_cmd('HGET', "gov:steps:$id", 'police');
    $s && decode_json($s)->{state} eq 'received';
}, 10), 'police is dispatched once nhc is approved');
my @police = $t->backend_requests('police');
is(scalar @police, 1, 'exactly once');

# --- v2 signatures bind the request: application, item, method ---------------

my @two = map { submit(\%good)->{json}{id} } 1 .. 2;
ok($t->wait_for(sub {
    !grep { my $s = $t->redis_cmd('HGET', "gov:steps:$_", 'nhc');
            !$s || decode_json($s)->{state} ne 'received' } @two
}, 10), 'two applications received by nhc');
$ts = int time;
$body = '{"state":"accepted"}';
is(callback($two[0], 'nhc', $body, ts => $ts)->{status}, 204,
   'the same body to one application');
is(callback($two[1], 'nhc', $body, ts => $ts)->{status}, 204,
   '... and to another in the same second: 204 both (a batch of approvals)');

# a signature made for one request, sent with another
sub resend {
    my ($path, $to, $key, $body) = @_;
    my $ts = int time;
    return $t->post($to, body => $body, headers => {
        'Content-Type' => 'application/json', 'X-Gov-Timestamp' => $ts,
        'X-Gov-Signature' => GovTest::sig_v2($key, $ts, 'POST', $path,
                                             $body) });
}
$body = '{"state":"reviewing"}';
is(resend("/callback/$two[0]/nhc", "/callback/$two[1]/nhc", $secret, $body)
   ->{status}, 401, 'a v2 signature of one application sent for another: 401');
is(resend("/callback/$two[0]/cdc", "/callback/$two[0]/nhc", $secret, $body)
   ->{status}, 401, '... of another item: 401');
is(resend("/callback/$two[0]/nhc?x=1", "/callback/$two[0]/nhc?y=2", $secret,
          $body)->{status}, 204, 'the query is not signed');

# gov-sign, the tool README gives departments, signs as the harness does
{
    my $tool = $t->root . '/build/gov-sign';
    $t->write_file('sign.secret', "$secret\n");
    $t->write_file('sign.body', '{"state":"reviewing"}');
    my $p = $t->prefix;
    my $out = `$tool --secret-file $p/sign.secret --path /callback/$two[1]/nhc --body-file $p/sign.body`;
    my ($ts2) = $out =~ /^X-Gov-Timestamp: (\d+)$/m;
    my ($sig2) = $out =~ /^X-Gov-Signature: (\S+)$/m;
    is($sig2, GovTest::sig_v2($secret, $ts2, 'POST', "/callback/$two[1]/nhc",
                              '{"state":"reviewing"}'),
       'gov-sign signs as the contract says');
    is($t->post("/callback/$two[1]/nhc", body => '{"state":"reviewing"}',
                headers => { 'X-Gov-Timestamp' => $ts2,
                             'X-Gov-Signature' => $sig2 })->{status}, 204,
       '... and the portal takes it');
}

$ts = int time;
$body = '{"state":"approved"}';
my $v1 = 'sha256=' . hmac_sha256_hex("$ts.$body", $secret);
$res = callback($two[1], 'nhc', $body, ts => $ts, sig => $v1);
is($res->{status}, 401, 'a legacy sha256= signature: 401 while it is off');
like($t->error_log, qr/signed "sha256=", the legacy form, while gov_callback_legacy_signatures is off/,
     '... and the log says why');

# --- Idempotency-Key ----------------------------------------------------------------------------

my $r1 = submit(\%good, 'Idempotency-Key' => 'k-123');
is($r1->{status}, 201, 'with an Idempotency-Key: 201');
my $nhc_count = () = $t->backend_requests('nhc');
my $r2 = submit(\%good, 'Idempotency-Key' => 'k-123');
is($r2->{status}, 201, 'the same key again: 201');
is($r2->{json}{id}, $r1->{json}{id}, 'the same application');
is($r2->{json}{query_code}, $r1->{json}{query_code}, 'the first answer');
is(scalar(() = $t->backend_requests('nhc')), $nhc_count,
   'no department contacted again');

my $other = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '310101198505052345');
my $r3 = $t->post('/bundles/newborn/applications', body => encode_json(\%good),
                  headers => { %auth, Authorization => "Bearer $other",
                               'Idempotency-Key' => 'k-123' });
isnt($r3->{json}{id}, $r1->{json}{id},
     'the same key from another subject is another application');

# --- a backend slower than gov_dispatch_timeout ----------------------------------------

my $s0 = time;
$res = $t->post('/bundles/slow/applications',
                body => encode_json({ fields => { name => 'x' } }),
                headers => \%auth);
my $took = time - $s0;
is($res->{status}, 201, 'a slow department: 201 all the same');
cmp_ok($took, '<', 3.5, 'answered at the dispatch timeout, not after 4s');
is($res->{json}{steps}[0]{state}, 'queued', 'the step is queued');
my $sid = $res->{json}{id};
ok($t->wait_for(sub {
    my $s = $t->redis_cmd('HGET', "gov:steps:$sid", 'slowdept');
    $s && decode_json($s)->{state} eq 'received';
}, 10), 'its late 2xx is recorded');

# --- Redis down at submission --------------------------------------------------------------------

$t->stop_redis;
my $before = () = $t->backend_requests('nhc');
$res = submit(\%good);
is($res->{status}, 503, 'Redis down: 503');
is($res->{headers}{'retry-after'}, '1', 'with Retry-After');
is(scalar(() = $t->backend_requests('nhc')), $before,
   'and no department contacted');
$t->start_redis(@AOF);
ok($t->wait_for(sub { submit(\%good)->{status} == 201 }, 10),
   'submissions work again once Redis is back');

# --- 100 concurrent submissions -------------------------------------------------------------------

$t->write_file('cdc.down', '');
unlink $flaky;
my $n_before = () = $t->backend_requests('nhc');
my @kids;
my $outdir = $t->prefix . '/concurrent';
mkdir $outdir;
for my $k (1 .. 100) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $t0 = Time::HiRes::time();
        my $res = submit(\%good);
        open my $fh, '>', "$outdir/$k" or POSIX::_exit(1);
        print $fh "$res->{status} " . ($res->{json}{id} // '-') . " "
            . sprintf("%.2f", Time::HiRes::time() - $t0) . "\n";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;
my @answers = map { my $a = $t->read_file("concurrent/$_"); chomp $a; $a }
              1 .. 100;
my %ids = map { (split / /)[1] => 1 } grep { /^201 / } @answers;
is(scalar(grep { /^201 / } @answers), 100, '100 concurrent submissions: 201')
    or diag(join('', 'answers: ',
                 join(', ', map { my $s = $_;
                                  "$s x" . grep({ /^$s / } @answers) }
                            sort keys %{{ map { (split / /)[0] => 1 }
                                          @answers }}),
                 '; slowest (s): ',
                 join(' ', (sort { $b <=> $a }
                            map { (split / /)[2] } @answers)[0 .. 9])));
is(scalar(keys %ids), 100, 'with 100 distinct ids');
my %nhc_seen;

# a department slower than gov_dispatch_timeout under this load leaves a
# step queued, for the retry queue to deliver: wait for it
$t->wait_for(sub {
    %nhc_seen = ();
    $nhc_seen{ $_->{headers}{'x-gov-application'} }++
        for grep { $ids{ $_->{headers}{'x-gov-application'} // '' } }
            $t->backend_requests('nhc');
    return keys(%nhc_seen) == 100;
}, 15);
is(scalar(keys %nhc_seen), 100, 'nhc received every one of them');
is(scalar(grep { $_ != 1 } values %nhc_seen), 0, 'each exactly once')
    or diag(explain({ map { $_ => [ map { $_->{time} } grep {
        ($_->{headers}{'x-gov-application'} // '') eq $_[0] } () ] }
        grep { $nhc_seen{$_} != 1 } keys %nhc_seen }));

my $m = $t->metrics;
cmp_ok($m->{gov_applications_total}, '>=', 100, 'applications are counted');
cmp_ok($m->{gov_dispatch_failures_total}, '>=', 1, 'failed deliveries too');
cmp_ok($m->{'gov_applications_by_bundle_total{bundle="newborn"}'}, '>=', 100,
       'applications by bundle');
cmp_ok($m->{'gov_dispatch_failures_by_item_total{item="cdc"}'}, '>=', 1,
       'failures by item');
cmp_ok($m->{'gov_dispatch_attempts_by_item_total{item="nhc"}'}, '>=', 100,
       'attempts by item');

# --- nginx fully restarted while steps are queued -------------------------------------------------

$t->write_file('cdc.down', '1');
$res = submit(\%good);
my $qid = $res->{json}{id};
is((grep { $_->{item} eq 'cdc' } @{ $res->{json}{steps} })[0]{state}, 'queued',
   'cdc is down: its step is queued');
$t->stop_nginx;
unlink $flaky;
$t->start_nginx;
ok($t->wait_for(sub {
    my $s = $t->redis_cmd('HGET', "gov:steps:$qid", 'cdc');
    $s && decode_json($s)->{state} eq 'received';
}, 40), 'after a full restart the queued step is delivered');


unlike($t->error_log, qr/\Q$app->{query_code}\E/, 'no query code in the log');
unlike($t->error_log, qr/11010119900101123X/, 'no ID number in the log');

# --- a worker killed, then a reload, while steps are queued ---------------------------------

$t->write_file('cdc.down', '1');
$res = submit(\%good);
my $kid = $res->{json}{id};
is((grep { $_->{item} eq 'cdc' } @{ $res->{json}{steps} })[0]{state}, 'queued',
   'cdc down again: queued');
kill 'KILL', $t->worker_pids;
sleep 0.5;
$t->reload;
unlink $flaky;
ok($t->wait_for(sub {
    my $s = $t->redis_cmd('HGET', "gov:steps:$kid", 'cdc');
    $s && decode_json($s)->{state} eq 'received';
}, 40), 'after workers were killed and nginx reloaded, the step is delivered');

# --- departments that answer badly: each is retried until it answers well ---

my %faulty;
for my $mode (qw(noreceipt garbage close)) {
    $t->write_file('cdc.down', $mode);
    $res = submit(\%good);
    is($res->{status}, 201, "cdc answers \"$mode\": the application is taken");
    my %st = map { $_->{item} => $_->{state} } @{ $res->{json}{steps} };
    is($st{cdc}, 'queued', "cdc answers \"$mode\": its step is queued");
    is($st{nhc}, 'received', 'the other departments are not held up');
    $faulty{$mode} = $res->{json}{id};
}
unlink $flaky;
for my $mode (sort keys %faulty) {
    ok($t->wait_for(sub {
        my $s = $t->redis_cmd('HGET', "gov:steps:$faulty{$mode}", 'cdc');
        $s && decode_json($s)->{state} eq 'received'
           && decode_json($s)->{receipt} eq "CDC-$faulty{$mode}";
    }, 40), "after \"$mode\", the retry delivers it once cdc answers well");
}
like($t->error_log, qr/without a receipt, will retry/,
     'a 2xx without a receipt is logged as such');

# --- departments migrating: the legacy form while the switch is on ---------

$t->write_conf(http => $BUNDLES . "    gov_callback_legacy_signatures on;\n",
               server => $SERVER);
$t->reload;
for my $state (qw(approved delivered)) {
    $ts = int time;
    $body = qq({"state":"$state"});
    $res = callback($two[1], 'nhc', $body, ts => $ts,
                    sig => 'sha256=' . hmac_sha256_hex("$ts.$body", $secret));
    is($res->{status}, 204, "legacy switch on: a sha256= signature is taken ($state)");
}
is(scalar(() = $t->error_log =~ /"nhc" signs its callbacks "sha256=", the legacy form/g),
   1, '... and said at warn once an hour, not per callback')
    or diag($t->error_log =~ /(.*legacy form.*)/g);
is(callback($two[0], 'nhc', '{"state":"approved"}')->{status}, 204,
   '... v2 still taken beside it');

# the master logs the killed workers: that is the point of this test
$t->done(allow => [ qr/worker process \d+ exited on signal 9/ ]);
done_testing();
