#!/usr/bin/perl

# docs/openapi.yaml: linted by Redocly's CLI (npm, pinned in
# t/openapi/package-lock.json), and every answer of one whole journey held
# to it with ajv (t/openapi/validate.mjs): token login, the list and a
# guide, an upload, a submission with mistakes and a good one, progress by
# identity and by code, a department's callbacks (good, replayed, illegal,
# a correction request), the citizen's correction, a rating, a withdrawal,
# a promised material and its supplement (容缺受理), OpenID Connect's
# errors, health and metrics; and the errors on the way.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;

my $root = $GovTest::ROOT;
my $tools = "$root/t/openapi";

ok(-d "$tools/node_modules/\@redocly/cli", 'the OpenAPI tools are installed')
    or BAIL_OUT('run make openapi-deps (make test does)');

# --- the document, linted -----------------------------------------------------

my $lint = `cd $tools && node node_modules/\@redocly/cli/bin/cli.js lint --config redocly.yaml $root/docs/openapi.yaml 2>&1`;
is($?, 0, 'redocly lint passes docs/openapi.yaml') or diag $lint;
like($lint, qr/valid/, '... and says so');
unlike($lint, qr/warning/i, '... without warnings');

# --- a journey, every answer recorded ----------------------------------------

my $t = GovTest->new;
$t->write_file('idp.secret', "s\n");
$t->write_file('conf/links.secret', 'l' x 40);
mkdir $t->prefix . '/store';

$t->world(http => <<'EOF', bundles => <<'EOF', server => <<'EOF');
    gov_session_cookie GOVSID insecure;
    gov_upload_store %%PREFIX%%/store;
    gov_upload_link_secret_file %%PREFIX%%/conf/links.secret;
    gov_oidc idp {
        issuer http://127.0.0.1:9/idp;
        client_id portal;
        client_secret_file %%PREFIX%%/idp.secret;
        proxy /_idp;
        redirect_uri /auth/callback;
    }
EOF
    gov_material photo "婴儿近期免冠照片" tolerable=3;
    gov_material id_card "身份证" elicense;
    gov_field name "新生儿姓名";
    gov_field phone "联系电话" "pattern=1[0-9]{10}" optional;
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend /internal/dept; callback_secret_file dept.secret;
                   materials photo id_card; fields name phone;
                   time_limit 3; }
    gov_item police { name "户口登记"; department "公安局";
                      backend /internal/dept; callback_secret_file dept.secret;
                      fields name; time_limit 5; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc police;
                         time_limit 10; }
EOF
    location = /auth/login { gov_login; }
    location = /auth/logout { gov_logout; }
    location = /auth/oidc { gov_login oidc=idp; }
    location = /auth/callback { gov_oidc_callback idp; }
    location /_idp/ { internal; proxy_pass http://127.0.0.1:9/; }
    location /stats/ { gov_stats; }
    location /uploads/ { gov_upload; }
    location = /gov/health { gov_health; }
    location = /gov/status { gov_status; }
EOF

my $answers = $t->prefix . '/answers.jsonl';
$ENV{GOV_OPENAPI_LOG} = $answers;

my $zhang = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234', name => '张三');
my $li = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                   sub => '310101198505052345');
my %auth = (Authorization => "Bearer $zhang");
my %json = ('Content-Type' => 'application/json');

sub post_json {
    my ($path, $doc, %h) = @_;
    return $t->post($path, body => ref $doc ? encode_json($doc) : $doc,
                    headers => { %json, %h });
}

# identity
is(post_json('/auth/login', { token => $zhang })->{status}, 200, 'login');
is(post_json('/auth/login', { token => 'x.y.z' })->{status}, 401, 'bad token');
is(post_json('/auth/login', '{')->{status}, 400, 'malformed login');
is($t->get('/auth/callback?state=nope&code=x')->{status}, 400, 'oidc state');
is($t->get('/auth/callback?error=access_denied')->{status}, 401, 'oidc error');
is($t->get('/auth/oidc')->{status}, 502, 'oidc provider unreachable');

# bundles
is($t->get('/bundles/')->{status}, 200, 'the list');
is($t->get('/bundles/newborn')->{status}, 200, 'a guide');
is($t->get('/bundles/nope')->{status}, 404, 'an unknown bundle');

# an upload
my $png = "\x89PNG\r\n\x1a\n" . ("\0" x 64);
my $res = $t->post('/uploads/', body => $png,
                   headers => { %auth, 'Content-Type' => 'image/png' });
is($res->{status}, 201, 'an upload');
my $ref = $res->{json}{ref};
is($t->post('/uploads/', body => "<html>",
            headers => { %auth, 'Content-Type' => 'image/png' })->{status},
   415, 'not a picture');
is($t->post('/uploads/', body => $png)->{status}, 401, 'upload without identity');

# submissions
$res = post_json('/bundles/newborn/applications',
                 { fields => { phone => '12' }, materials => {} }, %auth);
is($res->{status}, 422, 'a submission with mistakes');
is(post_json('/bundles/newborn/applications', '{', %auth)->{status}, 400,
   'malformed');
is(post_json('/bundles/newborn/applications', {})->{status}, 401,
   'no identity');
$res = post_json('/bundles/newborn/applications',
                 { fields => { name => '王小宝', phone => '13800000000' },
                   materials => { photo => $ref, id_card => 'elicense' } },
                 %auth);
is($res->{status}, 201, 'a submission');
my $id = $res->{json}{id};
my $code = $res->{json}{query_code};

# progress
$res = $t->get("/progress/$id", headers => \%auth);
is($res->{status}, 200, 'progress');
is($t->get("/progress/$id?code=$code")->{status}, 200, 'progress by code');
is($t->get("/progress/$id")->{status}, 401, 'progress, no identity');
is($t->get("/progress/$id", headers => { Authorization => "Bearer $li" })
   ->{status}, 404, 'progress of another');
is($t->get("/progress/$id", headers => { %auth,
   'If-None-Match' => $res->{headers}{etag} })->{status}, 304,
   'not modified');

# a department's callbacks
my $n = 0;
sub callback {
    my ($item, $doc) = @_;
    return $t->callback($id, $item, { %$doc, seq => ++$n });
}
is(callback('nhc', { state => 'accepted' })->{status}, 204, 'accepted');
is(callback('nhc', { state => 'queued' })->{status}, 409, 'an illegal move');
is(callback('nhc', { state => 'correction',
                     request => { materials => [ 'nope' ] } })->{status},
   422, 'a correction of an unknown material');
is(callback('nhc', { state => 'correction',
                     request => { fields => [ 'phone' ], note => '请补电话' } })
   ->{status}, 204, 'a correction request');
is($t->post("/callback/$id/nhc", body => '{}', headers => {
   'X-Gov-Timestamp' => time, 'X-Gov-Signature' => 'sha256=' . '0' x 64 })
   ->{status}, 401, 'a bad signature');
is($t->get("/progress/$id", headers => \%auth)->{json}{status}, 'attention',
   'the citizen must act');

# the citizen's correction
is(post_json("/progress/$id/steps/nhc/correction",
             { fields => { phone => '1' } }, %auth)->{status}, 422,
   'a correction with a mistake');
is(post_json("/progress/$id/steps/police/correction",
             { fields => { name => 'x' } }, %auth)->{status}, 409,
   'a step not in correction');
is(post_json("/progress/$id/steps/nhc/correction",
             { fields => { phone => '13900000000' } }, %auth)->{status}, 202,
   'the correction');

# finish, rate
is(callback('nhc', { state => 'accepted' })->{status}, 204, 'accepted again');
is(callback('nhc', { state => 'approved',
                     result => { kind => 'elicense', number => 'E1' } })
   ->{status}, 204, 'approved with a result');
is(callback('police', { state => 'accepted' })->{status}, 204, 'police');
is(callback('police', { state => 'denied', note => '材料不符' })->{status},
   204, 'denied');
is(post_json("/progress/$id/rating", { score => 9 }, %auth)->{status}, 422,
   'a bad score');
is(post_json("/progress/$id/rating", { score => 5, comment => '很好' }, %auth)
   ->{status}, 204, 'a rating');
is(post_json("/progress/$id/rating", { score => 5 }, %auth)->{status}, 409,
   'a second rating');

# the statistics, and the operators' side
my %op = (Authorization => 'Bearer ' . $t->token(key => 'hs', alg => 'HS256',
    kid => 'h1', sub => 'OP-1', claims => '{"role":"operator"}'));
$res = $t->get('/stats/');
is($res->{status}, 200, 'the statistics');
is($t->get('/stats/?year=2026')->{status}, 200, 'a year\'s');
is($t->get('/stats/?month=13')->{status}, 400, 'a bad period');
is($t->get('/stats/', headers => { 'If-None-Match' => $res->{headers}{etag} })
   ->{status}, 304, 'unchanged');
is($t->get('/stats/ratings/', headers => \%op)->{status}, 200,
   'open bad ratings');
is($t->get('/stats/ratings/', headers => \%auth)->{status}, 403,
   '... not to a citizen');
is($t->get('/stats/ratings/')->{status}, 401, '... nor to nobody');
is(post_json("/stats/ratings/$id/rectification", { note => '整改' }, %op)
   ->{status}, 409, 'a good rating is not rectified');
is(post_json("/stats/ratings/$id/rectification", { note => '' }, %op)
   ->{status}, 422, 'an empty note');
is(post_json("/progress/$id/withdrawal", { reason => 'x' }, %auth)->{status},
   409, 'nothing left to withdraw');

# a second application, withdrawn
$res = post_json('/bundles/newborn/applications',
                 { fields => { name => '王小二' },
                   materials => { photo => $ref, id_card => 'elicense' } },
                 %auth);
my $id2 = $res->{json}{id};
is(post_json("/progress/$id2/withdrawal", { reason => '不办了' }, %auth)
   ->{status}, 200, 'a withdrawal');
$res = $t->get("/progress/$id2", headers => \%auth);
is($res->{json}{status}, 'withdrawn', 'withdrawn');

# a third, the photo promised (容缺受理), then supplied
$res = post_json('/bundles/newborn/applications',
                 { fields => { name => '王小三' }, promises => [ 'photo' ],
                   materials => { id_card => 'elicense' } }, %auth);
is($res->{status}, 201, 'a submission with a promise');
my $id3 = $res->{json}{id};
is(post_json('/bundles/newborn/applications',
             { fields => { name => '王小四' }, promises => [ 'id_card' ],
               materials => {} }, %auth)->{status}, 422,
   'a promise of what may not wait');
$res = $t->get("/progress/$id3", headers => \%auth);
is($res->{json}{steps}[0]{pending}[0]{material}, 'photo', 'pending');
is(post_json("/progress/$id3/materials", { materials => {} }, %auth)->{status},
   422, 'nothing supplied');
is(post_json("/progress/$id3/materials", '{', %auth)->{status}, 400,
   'a malformed supplement');
is(post_json("/progress/$id3/materials", { materials => { photo => $ref } },
             %auth)->{status}, 202, 'the photo supplied');
is(post_json("/progress/$id3/materials", { materials => { photo => $ref } },
             %auth)->{status}, 409, 'nothing left to supply');

# operations
is($t->get('/gov/health')->{status}, 200, 'health');
is($t->get('/gov/status')->{status}, 200, 'metrics');
is($t->http('POST', '/auth/logout', headers => \%auth)->{status}, 204,
   'logout');

delete $ENV{GOV_OPENAPI_LOG};

# --- every answer, held to the document ------------------------------------

my @lines = split /\n/, $t->read_file('answers.jsonl');
cmp_ok(scalar @lines, '>=', 40, 'the journey\'s answers were recorded ('
       . scalar(@lines) . ')');

open my $fh, '-|', 'node', "$tools/validate.mjs", "$root/docs/openapi.yaml",
    $answers or die "node: $!\n";
my $checked = 0;
while (my $line = <$fh>) {
    chomp $line;
    if ($line =~ /^(not )?ok \d+ - (.*?)(?: # (.*))?$/) {
        $checked++;
        ok(!$1, "openapi: $2") or diag($3 // '');
    } elsif ($line =~ /^# (.*)/) {
        note $1;
    }
}
close $fh;
is($? >> 8, 0, 'every answer matches docs/openapi.yaml');
cmp_ok($checked, '>=', 30, "kinds of answers checked ($checked)");

$t->done;
done_testing();
