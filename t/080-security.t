#!/usr/bin/perl

# The security pass, gathered in one place (SECURITY.md maps each threat to
# its test): another citizen's progress and rating (IDOR), query-code
# guessing, open redirects, header injection through names and claims,
# oversized bodies and headers, ids with path or control characters, log
# injection, and no secret in any log line.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(hmac_sha256_hex);
use IO::Socket::INET;
use GovTest;

my $t = GovTest->new;
$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);
my $secret = 'department-secret-0123456789';
my $secret2 = 'another-department-secret-987654';
$t->write_file('conf/nhc.secret', "$secret\n");
$t->write_file('conf/cdc.secret', "$secret2\n");

$t->backend(sub {
    my ($req) = @_;
    return { status => 200, body => encode_json({
        receipt => 'R-' . ($req->{headers}{'x-gov-application'} // ''),
        seen => [ map { "$_: $req->{headers}{$_}" }
                  grep { /^x-/ } sort keys %{ $req->{headers} } ] }) };
}, name => 'dept');

$t->write_conf(http => <<'EOF', server => <<'EOF');
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_session_cookie GOVSID insecure;
    gov_templates %%ROOT%%/templates;
    gov_progress_cache zone=progress:64k ttl=5s;
    gov_material id_card "身份证";
    gov_field name "姓名";
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend /internal/dept; callback_secret_file nhc.secret;
                   materials id_card; fields name; time_limit 3; }
    gov_item cdc { name "预防接种证"; department "疾控中心";
                   backend /internal/dept; callback_secret_file cdc.secret;
                   fields name; time_limit 5; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc cdc;
                         time_limit 10; }
    log_format full '$remote_addr "$request" $status "$http_referer" '
                    '"$http_user_agent" "$gov_subject_masked" "$gov_actor"';
    access_log %%PREFIX%%/logs/access.log full;
EOF
    location = /auth/login { gov_login; }
    location /bundles/ { gov_bundles; }
    location /progress/ { gov_progress; }
    location /callback/ { gov_callback; }
    location = /echo {
        gov_auth required;
        proxy_pass http://127.0.0.1:%%BACKEND:dept%%/echo;
    }
    location /internal/dept { internal;
                              proxy_pass http://127.0.0.1:%%BACKEND:dept%%/s; }
EOF
$t->start_nginx;

my %tok = map { $_->[0] => $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                                     sub => $_->[1], name => $_->[2]) }
          ([ zhang => '110101199001011234', '张三' ],
           [ li => '310101198505052345', '李四' ]);
my $agent_of_li = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                            sub => '310101198505052345', act => 'AGENT-9');

sub auth { ('Authorization' => "Bearer $_[0]") }

sub submit {
    my ($token, %o) = @_;
    return $t->post('/bundles/newborn/applications',
                    body => $o{body} // encode_json({ fields => { name => '张三' },
                                                      materials => { id_card => 'r' } }),
                    headers => { 'Content-Type' => 'application/json',
                                 auth($token), %{ $o{headers} || {} } });
}

sub callback {
    my ($id, $item, $state, $key) = @_;
    my $ts = time;
    my $body = encode_json({ state => $state });
    return $t->post("/callback/$id/$item", body => $body, headers => {
        'X-Gov-Timestamp' => $ts,
        'X-Gov-Signature' => GovTest::sig_v2($key, $ts, 'POST', "/callback/$id/$item", $body) });
}

my $res = submit($tok{zhang});
is($res->{status}, 201, 'Zhang San applies');
my ($id, $code) = @{ $res->{json} }{qw(id query_code)};

# --- IDOR ------------------------------------------------------------------------

my $unknown = $t->get('/progress/NB20990101000001', headers => { auth($tok{li}) });
$res = $t->get("/progress/$id", headers => { auth($tok{li}) });
is($res->{status}, 404, "another citizen cannot see Zhang San's progress");
is($res->{content}, $unknown->{content}, 'the same answer as an unknown id');
$t->get("/progress/$id", headers => { auth($tok{zhang}) });     # now cached
is($t->get("/progress/$id", headers => { auth($tok{li}) })->{status}, 404,
   'not from the micro-cache either');
is($t->get("/progress/$id", headers => { auth($agent_of_li) })->{status}, 404,
   "nor another citizen's agent");
is($t->get("/progress/$id", headers => { auth($tok{li}), Accept => 'text/html' })->{status},
   404, 'nor as a page');

is(callback($id, $_, 'accepted', $_ eq 'nhc' ? $secret : $secret2)->{status},
   204, "$_ accepted") for qw(nhc cdc);
is(callback($id, $_, 'approved', $_ eq 'nhc' ? $secret : $secret2)->{status},
   204, "$_ approved") for qw(nhc cdc);
is(callback($id, 'cdc', 'delivered', $secret)->{status}, 401,
   "one department's secret cannot move another's step");

my $rating = encode_json({ score => 1, comment => 'x' });
$res = $t->post("/progress/$id/rating", body => $rating,
                headers => { auth($tok{li}), 'Content-Type' => 'application/json' });
is($res->{status}, 404, 'another citizen cannot rate it');
$res = $t->post("/progress/$id/rating?code=$code", body => $rating,
                headers => { 'Content-Type' => 'application/json' });
is($res->{status}, 401, 'the query code does not allow rating');
$res = $t->post("/progress/$id/rating?code=$code", body => $rating,
                headers => { auth($tok{li}), 'Content-Type' => 'application/json' });
is($res->{status}, 404, 'nor does it let another citizen rate');
ok(!defined $t->get("/progress/$id", headers => { auth($tok{zhang}) })->{json}{rating}
   || $t->get("/progress/$id", headers => { auth($tok{zhang}) })->{json}{rating} eq '',
   'no rating recorded');

# --- query-code guessing -------------------------------------------------------

$res = $t->get("/progress/$id?code=$code");
is($res->{status}, 200, 'the query code opens the progress');
unlike($res->{content}, qr/110101199001011234/, 'without the ID number');
my @s = map { $t->get("/progress/$id?code=ZZZZZZ" . sprintf('%02d', $_))->{status} }
        1 .. 6;
is_deeply([ @s[0 .. 4] ], [ (404) x 5 ], 'wrong codes: 404');
is($s[5], 429, 'then 429');
is($t->get("/progress/$id?code=$code")->{status}, 429,
   'even the right code, while locked: a guesser learns nothing');
is($t->get("/progress/$id", headers => { auth($tok{zhang}) })->{status}, 200,
   'the applicant is never locked out');

# --- open redirects -------------------------------------------------------------------

for my $to ('//evil.example/', '/\\evil.example', 'https://evil.example/',
            '/%2F%2Fevil.example', "/\r\nLocation: https://evil.example/")
{
    (my $enc = $to) =~ s/([^A-Za-z0-9\/._~-])/sprintf('%%%02X', ord $1)/ge;
    $res = $t->get("/auth/login?token=$tok{zhang}&return_to=$enc",
                   headers => { Accept => 'text/html' });
    is($res->{headers}{location}, '/', "return_to \"$to\" goes to /");
}

# --- header injection through names and claims ----------------------------------

my $evil = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                     sub => '110101199001011234',
                     name => "王五\r\nX-Injected: 1\r\n\r\n<h1>");
$res = $t->get('/echo', headers => { auth($evil), 'X-Gov-Subject' => 'forged' });
is($res->{status}, 200, 'a name with CR LF in its claim');
my @seen = @{ $res->{json}{seen} || [] };
ok(!grep({ /^x-injected/ } @seen), 'injects no header upstream');
ok(grep({ /^x-gov-name: %E7%8E%8B%E4%BA%94%0D%0AX-Injected/ } @seen),
   'the name is passed percent-encoded');
ok(grep({ $_ eq 'x-gov-subject: 110101199001011234' } @seen),
   'and the forged X-Gov-Subject is gone');
ok(!exists $res->{headers}{'x-injected'}, 'nor into the answer');

# --- oversized bodies and headers -----------------------------------------------------

my $big = encode_json({ fields => { name => 'x' x 70000 }, materials => {} });
my $before = scalar @{ $t->redis_cmd('KEYS', 'gov:app:*') };
is(submit($tok{zhang}, body => $big)->{status}, 413, 'a 70 KB submission: 413');
is(submit($tok{zhang}, body => 'fields.name=' . ('x' x 200000),
          headers => { 'Content-Type' => 'application/x-www-form-urlencoded' })->{status},
   413, 'a 200 KB form (over 192 KiB): 413');
is(submit($tok{zhang}, body => 'fields.name=' . ('x' x 70000),
          headers => { 'Content-Type' => 'application/x-www-form-urlencoded' })->{status},
   422, 'a 70 KB form (under 192 KiB): read, its 70,000-character name refused');
is(scalar @{ $t->redis_cmd('KEYS', 'gov:app:*') }, $before, 'nothing written');

$res = $t->get('/echo', headers => { Authorization => 'Bearer ' . ('a' x 9000) });
ok($res->{status} == 401 || $res->{status} == 400,
   "a 9 KB token: refused ($res->{status}), not a 500");
$res = $t->get('/echo', headers => { Cookie => join('; ', map { "c$_=v" } 1 .. 1500) });
ok($res->{status} == 401 || $res->{status} == 400,
   "1500 cookies: refused ($res->{status})");
$res = $t->get('/echo', headers => { 'X-Big' => 'y' x 40000, auth($tok{zhang}) });
ok($res->{status} == 400 || $res->{status} == 494,
   "a 40 KB header: nginx refuses it ($res->{status})");

# --- ids with path or control characters ---------------------------------------------

sub raw {
    my ($line) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port)
        or die;
    print $s "$line\r\nHost: localhost\r\nAuthorization: Bearer $tok{zhang}\r\n"
             . "Connection: close\r\n\r\n";
    local $/;
    my $out = <$s> // '';
    close $s;
    return $out;
}

for my $path ("/progress/..%2F..%2Fetc%2Fpasswd", "/progress/$id%2F..",
              "/progress/${id}%0D%0ASet-Cookie:%20x=1", "/progress/${id}%00",
              "/progress/" . lc($id), "/progress/$id/../$id/rating",
              "/callback/..%2F$id/nhc", "/bundles/..%2Fnewborn")
{
    my $out = raw("GET $path HTTP/1.1");
    my ($status) = $out =~ m{^HTTP/1\.1 (\d+)};
    ok($status && ($status == 404 || $status == 400 || $status == 405),
       "GET $path: " . ($status // 'no answer'));
    unlike($out, qr/^Set-Cookie: x=1/mi, '  injects no header');
}

# --- log injection -------------------------------------------------------------------------

my $liar = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                     sub => "x\n2026/01/01 00:00:00 [emerg] 1#1: forged",
                     name => "\e[31mred\n");
$res = $t->get('/echo', headers => { auth($liar) });
$res = submit($liar);
ok($res->{status} == 201 || $res->{status} == 401,
   "a subject with a newline: $res->{status}");
$t->get("/progress/x%0A2026/01/01%20[emerg]%20forged");
$t->get("/bundles/\x1b[2J");

# --- no secret in any log line --------------------------------------------------------------

$res = $t->post('/auth/login', body => encode_json({ token => $tok{zhang} }),
                headers => { 'Content-Type' => 'application/json' });
my ($sid) = ($res->{headers}{'set-cookie'} // '') =~ /^GOVSID=([^;]+)/;
ok($sid, 'a session id');
$t->get('/echo', headers => { Cookie => "GOVSID=$sid" });
$t->get("/auth/login?token=$tok{li}");

$t->stop_nginx;

my $logs = $t->read_file('logs/error.log') . $t->read_file('logs/access.log');
my @lines = split /\n/, $logs;
ok(!grep({ /\[emerg\] 1#1: forged/ && !/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#\d+: .*forged/ } @lines),
   'a forged log line never starts a line of its own');
ok(!grep({ /\e/ } @lines), 'no raw escape character reaches a log');

my %secrets = (
    'a whole token' => $tok{zhang}, 'another token' => $tok{li},
    'the session id' => $sid, 'the query code' => $code,
    'a whole ID number' => '110101199001011234',
    'another ID number' => '310101198505052345',
    'a department secret' => $secret,
);
for my $what (sort keys %secrets) {
    my @hits = grep { index($_, $secrets{$what}) >= 0 } @lines;
    ok(!@hits, "no log line holds $what") or diag(substr($hits[0], 0, 300));
}

$t->done;
done_testing();
