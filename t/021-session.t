#!/usr/bin/perl

# Cookie sessions: gov_login (GET redirect, JSON and form POST), the cookie's
# flags, Redis holding only a hash of the session id, sliding idle expiry
# without a write per request, absolute expiry, gov_logout, return_to
# against open redirects, Redis down (503, never 401 or 500).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use GovTest;

my $t = GovTest->new;
$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'ec', 'ES256', 'e1' ]);

$t->echo_backend;

$t->write_conf(
    http => <<'EOF',
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_redis_prefix "t1:";
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_session_ttl 60s 2h;
EOF
    server => <<'EOF',
    location = /auth/login { gov_login; }
    location = /auth/logout { gov_logout; }

    location /api/ {
        gov_auth required;
        add_header X-Reason "$gov_auth_reason" always;
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }

    location = /strictcookie/login {
        gov_session_cookie SID secure samesite=strict domain=gov.example;
        gov_login;
    }
EOF
);

$t->start_nginx;

my $token = $t->token(key => 'ec', alg => 'ES256', kid => 'e1',
                      sub => '110101199001011234', name => '张三');
my $agent = $t->token(key => 'ec', alg => 'ES256', kid => 'e1',
                      sub => '110101199001011234', act => 'AGENT-1');
my $html = { Accept => 'text/html' };

sub sid_of {
    my ($res) = @_;
    my $c = $res->{headers}{'set-cookie'} // '';
    $c = $c->[0] if ref $c;
    return ($c =~ /^GOVSID=([^;]*)/)[0];
}

sub with_cookie {
    my ($path, $sid, %o) = @_;
    return $t->http($o{method} || 'GET', $path,
                    headers => { Cookie => "a=b; GOVSID=$sid", %{ $o{headers}
                                 || {} } }, %o);
}

# --- GET login from the identity provider's redirect -------------------------

my $res = $t->get("/auth/login?token=$token&return_to=%2Fapi%2Fhome%3Fx%3D1",
                  headers => $html);
is($res->{status}, 303, 'browser login answers 303');
is($res->{headers}{location}, '/api/home?x=1', 'to return_to');

my $cookie = $res->{headers}{'set-cookie'};
like($cookie, qr/^GOVSID=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=7200; HttpOnly; Secure; SameSite=Lax$/,
     'the cookie: opaque 256-bit id, HttpOnly, Secure, SameSite=Lax, '
     . 'Max-Age of the absolute lifetime');

my $sid = sid_of($res);

# --- Redis holds only a hash ---------------------------------------------------

my $keys = $t->redis_cmd('KEYS', 't1:session:*');
is(scalar @$keys, 1, 'one session in Redis, under the configured prefix');
is($keys->[0], 't1:session:' . sha256_hex($sid),
   'keyed by the SHA-256 of the id');
unlike($keys->[0] . $t->redis_cmd('GET', $keys->[0]), qr/\Q$sid\E/,
       'the id itself is nowhere in Redis');
my $ttl = $t->redis_cmd('PTTL', $keys->[0]);
cmp_ok($ttl, '>', 58000, 'idle lifetime set');
cmp_ok($ttl, '<=', 60000, 'to 60s');

# --- the session authenticates -------------------------------------------------

$res = with_cookie('/api/x', $sid);
is($res->{status}, 200, 'the session cookie authenticates');
is($res->{json}{'x-gov-subject'}, '110101199001011234', 'as the subject');
is($res->{json}{'x-gov-name'}, '%E5%BC%A0%E4%B8%89', 'with the name');
like($res->{json}{cookie} // '', qr/GOVSID/,
     'the cookie itself is forwarded as sent (the app may need others)');

# --- sliding idle expiry, without a write on every request ---------------------

$t->redis_cmd('CONFIG', 'RESETSTAT');
with_cookie('/api/x', $sid) for 1 .. 10;
my $stats = $t->redis_cmd('INFO', 'commandstats');
unlike($stats, qr/cmdstat_pexpire/, 'ten requests right away: no PEXPIRE');

$t->redis_cmd('PEXPIRE', $keys->[0], 50000);
with_cookie('/api/x', $sid);
$ttl = $t->wait_for(sub {
    my $v = $t->redis_cmd('PTTL', $keys->[0]);
    $v > 55000 ? $v : 0;
}, 3);
ok($ttl, 'once a tenth of the idle time has passed, the TTL slides back');

# --- absolute expiry does not slide --------------------------------------------

{
    my $value = decode_json($t->redis_cmd('GET', $keys->[0]));
    $value->{abs} = time - 1;
    $t->redis_cmd('SET', $keys->[0], encode_json($value), 'PX', 60000);
    $res = with_cookie('/api/x', $sid);
    is($res->{status}, 401, 'past the absolute expiry: 401');
    is($res->{json}{reason}, 'session_expired', 'session_expired');
}

# --- JSON and form logins ----------------------------------------------------------

$res = $t->post('/auth/login', body => encode_json({ token => $agent }),
                headers => { 'Content-Type' => 'application/json' });
is($res->{status}, 200, 'JSON login answers 200');
is_deeply($res->{json}, { subject => '110101199001011234',
                          actor => 'AGENT-1' }, 'with subject and actor');
my $agent_sid = sid_of($res);
ok($agent_sid, 'and a cookie');

$res = with_cookie('/api/x', $agent_sid);
is($res->{json}{'x-gov-actor'}, 'AGENT-1',
   'a delegated session keeps the agent');

$res = $t->post('/auth/login', body => "token=$token&return_to=%2Fapi%2Fform",
                headers => { 'Content-Type' =>
                             'application/x-www-form-urlencoded',
                             Accept => 'text/html' });
is($res->{status}, 303, 'form login answers 303');
is($res->{headers}{location}, '/api/form', 'to return_to');

$res = $t->get("/auth/login?token=$token", headers => $html);
is($res->{headers}{location}, '/', 'no return_to: to /');

# --- open redirects ----------------------------------------------------------------

for my $evil ('//evil.example', '/\\evil.example', 'https://evil.example',
              'http:evil.example', '%2F%2Fevil.example', '/%2F%2Fevil.example',
              '/%5Cevil.example', '%2F%5Cevil.example', 'javascript:alert(1)',
              '/%0d%0aSet-Cookie:%20x=1', "\t//evil.example", 'evil.example',
              '/%09/evil.example', '%252F%252Fevil')
{
    my $q = $evil;
    $q =~ s/([^A-Za-z0-9%._~-])/sprintf('%%%02X', ord $1)/ge
        unless $evil =~ /%/;
    $res = $t->get("/auth/login?token=$token&return_to=$q", headers => $html);
    is($res->{headers}{location}, '/', "return_to $evil goes to /");
}

$res = $t->post('/auth/login',
                body => encode_json({ token => $token,
                                      return_to => '//evil.example' }),
                headers => { 'Content-Type' => 'application/json',
                             Accept => 'text/html' });
is($res->{headers}{location}, '/', 'return_to in JSON: //evil goes to /');

# --- cookie flags --------------------------------------------------------------------

$res = $t->post('/strictcookie/login', body => encode_json({ token => $token }),
                headers => { 'Content-Type' => 'application/json' });
like($res->{headers}{'set-cookie'},
     qr/^SID=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=7200; Domain=gov\.example; HttpOnly; Secure; SameSite=Strict$/,
     'gov_session_cookie name, domain and samesite');

# --- refusals -------------------------------------------------------------------------

my $before = scalar @{ $t->redis_cmd('KEYS', 't1:session:*') };

$res = $t->get('/auth/login?token=garbage');
is($res->{status}, 401, 'a bad token: 401');
is($res->{json}{reason}, 'malformed', 'with its reason');
is($res->{headers}{'set-cookie'}, undef, 'and no cookie');

$res = $t->get('/auth/login');
is($res->{status}, 401, 'no token: 401');
is($res->{json}{reason}, 'missing', 'reason missing');

$res = $t->post('/auth/login', body => '{"token":',
                headers => { 'Content-Type' => 'application/json' });
is($res->{status}, 400, 'malformed JSON: 400');

$res = $t->post('/auth/login', body => 'x',
                headers => { 'Content-Type' => 'text/plain' });
is($res->{status}, 415, 'another content type: 415');

$res = $t->http('DELETE', '/auth/login');
is($res->{status}, 405, 'DELETE: 405');

$res = with_cookie('/api/x', 'A' x 43);
is($res->{status}, 401, 'an unknown session id: 401');
is($res->{json}{reason}, 'session_expired', 'session_expired');

$res = with_cookie('/api/x', 'short');
is($res->{json}{reason}, 'session_expired', 'a malformed id likewise');

is(scalar @{ $t->redis_cmd('KEYS', 't1:session:*') }, $before,
   'refused logins wrote nothing to Redis');

# --- logout ---------------------------------------------------------------------------

$res = $t->post('/auth/login', body => encode_json({ token => $token }),
                headers => { 'Content-Type' => 'application/json' });
my $bye = sid_of($res);
is(with_cookie('/api/x', $bye)->{status}, 200, 'logged in');

$res = $t->get('/auth/logout', headers => { Cookie => "GOVSID=$bye" });
is($res->{status}, 405, 'logout takes POST only');

$res = with_cookie('/auth/logout', $bye, method => 'POST');
is($res->{status}, 204, 'logout answers 204');
like($res->{headers}{'set-cookie'},
     qr/^GOVSID=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax$/,
     'and expires the cookie');
is($t->redis_cmd('EXISTS', 't1:session:' . sha256_hex($bye)), 0,
   'the session is deleted in Redis');
is(with_cookie('/api/x', $bye)->{json}{reason}, 'session_expired',
   'the old cookie no longer works');

$res = with_cookie('/auth/logout', $agent_sid, method => 'POST',
                   headers => { Accept => 'text/html' });
is($res->{status}, 303, 'a browser form logout: 303');
is($res->{headers}{location}, '/', 'to /');

$res = $t->post('/auth/logout');
is($res->{status}, 204, 'logout without a session: 204 all the same');

# --- Redis down ------------------------------------------------------------------------

$t->stop_redis;

$res = with_cookie('/api/x', $sid);
is($res->{status}, 503, 'Redis down: a session cookie gets 503');
is($res->{headers}{'retry-after'}, '1', 'with Retry-After');

$res = $t->get('/api/x', headers => { Authorization => "Bearer $token" });
is($res->{status}, 200, 'Redis down: a bearer token still works');

$res = $t->post('/auth/login', body => encode_json({ token => $token }),
                headers => { 'Content-Type' => 'application/json' });
is($res->{status}, 503, 'Redis down: login answers 503');
is($res->{headers}{'set-cookie'}, undef, 'without a cookie');

$res = with_cookie('/auth/logout', $sid, method => 'POST');
is($res->{status}, 503, 'Redis down: logout answers 503');

unlike($t->error_log, qr/\Q$sid\E/, 'no session id in the error log');
unlike($t->error_log . $t->read_file('logs/access.log'), qr/\Q$token\E/,
       'no token in the logs');
like($t->read_file('logs/access.log'), qr/GET \/auth\/login\?token=\*{20,}/,
     'the access log shows the token masked');

$t->done;
done_testing();
