#!/usr/bin/perl

# OpenID Connect login (CONTRACT section 3): gov_oidc, gov_login oidc=,
# gov_oidc_callback, against a mock provider the harness forks.  The
# authorization request, state/nonce/PKCE in Redis once for 10 minutes,
# the code exchanged with client_secret_basic, the ID token verified, the
# session made as gov_login makes it, RP-initiated logout; and every way
# it fails: a replayed code, a state swapped between browsers, an expired
# one, the provider's error, its token endpoint failing or down, ID tokens
# with a wrong nonce, audience, issuer, algorithm or signature, a key
# rotated (fetched once), discovery answering garbage; nginx -t catching
# what an operator gets wrong.  No token or code in a log.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use GovTest;
use Time::HiRes qw(sleep);

my $t = GovTest->new;
$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'ec', 'ES256', 'e1' ]);

my $idp = $t->oidc_provider(name => 'idp');
my $bad = $t->oidc_provider(name => 'bad');
$t->write_file('bad/discovery', '<html>not json</html>');
my $iss = $t->oidc('idp')->{issuer};

$t->backend(sub {
    my ($req) = @_;
    return { status => 200, body => encode_json({
        subject => $req->{headers}{'x-gov-subject'} }) };
}, name => 'echo');

my $http = <<'EOF';
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_redis_prefix "o1:";
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_templates %%ROOT%%/templates;

EOF
$http .= $t->oidc_conf('idp', lines => [ 'scope "openid profile";',
                                         'post_logout_redirect_uri /;' ])
       . "\n" . $t->oidc_conf('bad', redirect_uri => '/auth/bad/callback');

my $server = <<'EOF';
    gov_session_cookie GOVSID insecure;

    location /_idp/ {
        internal;
        proxy_pass http://127.0.0.1:%%BACKEND:idp%%/;
    }
    location /_bad/ {
        internal;
        proxy_pass http://127.0.0.1:%%BACKEND:bad%%/;
    }

    location = /auth/oidc { gov_login oidc=idp; }
    location = /auth/callback { gov_oidc_callback idp; }
    location = /auth/bad { gov_login oidc=bad; }
    location = /auth/bad/callback { gov_oidc_callback bad; }
    location = /auth/login { gov_login; }
    location = /auth/logout { gov_logout; }

    location /api/ {
        gov_auth required;
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }
EOF

# --- nginx -t: what an operator gets wrong ----------------------------------

my @broken = (
    [ 'missing client id', sub { $_[0] =~ s/\n\s*client_id portal;//; },
      qr/gov_oidc "idp" has no "client_id"/ ],
    [ 'unreadable secret', sub { $_[0] =~ s{idp/secret}{idp/nosecret}; },
      qr/cannot read the client secret file/ ],
    [ 'redirect_uri not handled',
      sub { $_[1] =~ s#= /auth/callback #= /auth/elsewhere #; },
      qr{redirect_uri "/auth/callback" is not handled by "gov_oidc_callback idp"} ],
    [ 'proxy location missing', sub { $_[1] =~ s{location /_idp/}{location /_other/}; },
      qr{no location for its proxy "/_idp"} ],
    [ 'unknown provider', sub { $_[1] =~ s{oidc=idp}{oidc=nope}; },
      qr/no gov_oidc "nope" for gov_login oidc=/ ],
    [ 'no redis', sub { $_[0] =~ s/gov_redis 127.*\n//; },
      qr/"gov_oidc" needs "gov_redis"/ ],
    [ 'scope without openid', sub { $_[0] =~ s/"openid profile"/"profile"/; },
      qr/"scope" must include "openid"/ ],
    [ 'absolute redirect_uri',
      sub { $_[0] =~ s{redirect_uri /auth/callback}
                      {redirect_uri https://evil.example/cb}; },
      qr/"redirect_uri" must be a path of this site/ ],
);

for my $b (@broken) {
    my ($h, $s) = ($http, $server);
    $b->[1]->($h, $s);
    $t->write_conf(http => $h, server => $s);
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: $b->[0]");
    like($out, $b->[2], "... and says why: $b->[0]");
}

$t->write_conf(http => $http, server => $server);
my ($rc, $out) = $t->test_conf;
is($rc, 0, 'the good configuration passes nginx -t') or diag $out;
$t->write_file('logs/error.log', '');

$t->start_nginx;

my $html = { Accept => 'text/html' };

sub idp_requests {
    my ($name, $path) = @_;
    return grep { $_->{path} eq $path } $t->backend_requests($name);
}

sub state_keys { scalar @{ $t->redis_cmd('KEYS', 'o1:oidc:state:*') } }
sub sessions { scalar @{ $t->redis_cmd('KEYS', 'o1:session:*') } }

# --- the authorization request ----------------------------------------------

my $l = $t->oidc_login('/auth/oidc?return_to=%2Fapi%2Fhome', start_only => 1);
is($l->{start}{status}, 302, 'gov_login oidc= answers 302');
my $loc = $l->{start}{headers}{location};
like($loc, qr{^\Q$iss\E/authorize\?}, '... to the authorization endpoint');
my $q = $l->{query};
is($q->{response_type}, 'code', 'response_type=code');
is($q->{client_id}, 'portal', 'client_id');
is($q->{redirect_uri}, $t->url('/auth/callback'), 'redirect_uri, absolute');
is($q->{scope}, 'openid profile', 'scope');
is($q->{code_challenge_method}, 'S256', 'PKCE S256');
like($q->{code_challenge}, qr/^[A-Za-z0-9_-]{43}$/, 'a code challenge');
like($q->{state}, qr/^[A-Za-z0-9_-]{43}$/, 'a fresh state');
like($q->{nonce}, qr/^[A-Za-z0-9_-]{43}$/, 'a fresh nonce');
isnt($q->{state}, $q->{nonce}, 'state and nonce differ');
unlike($loc, qr/return_to|api/, 'return_to stays on the server');
like($l->{start}{headers}{'set-cookie'},
     qr/^GOVSID-oidc=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax$/,
     'a binding cookie, HttpOnly, Lax, 10 minutes');

my $ttl = $t->redis_cmd('TTL', "o1:oidc:state:$q->{state}");
ok($ttl > 590 && $ttl <= 600, "the state is kept 10 minutes in Redis ($ttl)");
my $rec = decode_json($t->redis_cmd('GET', "o1:oidc:state:$q->{state}"));
is($rec->{r}, '/api/home', 'with return_to');
isnt($rec->{v}, $q->{code_challenge}, 'the verifier, not the challenge');

my $l2 = $t->oidc_login('/auth/oidc', start_only => 1);
isnt($l2->{query}{state}, $q->{state}, 'every login a new state');

$l = $t->oidc_login('/auth/oidc?return_to=https%3A%2F%2Fevil.example%2F',
                    start_only => 1);
$rec = decode_json($t->redis_cmd('GET', "o1:oidc:state:$l->{state}"));
is($rec->{r}, '/', 'a foreign return_to becomes /');

is($t->http('POST', '/auth/oidc')->{status}, 405, 'gov_login oidc= is GET');

# --- a whole login ----------------------------------------------------------

$l = $t->oidc_login('/auth/oidc?return_to=%2Fapi%2Fhome');
is($l->{authorize}{status}, 302, 'the provider sends the browser back');
my $cb = $l->{callback};
is($cb->{status}, 303, 'the callback answers 303');
is($cb->{headers}{location}, '/api/home', '... to return_to');
ok($l->{sid}, 'a session cookie is set');
my @sc = ref $cb->{headers}{'set-cookie'} ? @{ $cb->{headers}{'set-cookie'} }
                                          : ($cb->{headers}{'set-cookie'});
ok((grep { /^GOVSID-oidc=; Path=\/; Max-Age=0;/ } @sc),
   'the binding cookie is expired');
ok((grep { /^GOVSID=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/ } @sc),
   'the session cookie is gov_login\'s');

my $res = $t->get('/api/home', headers => { Cookie => "GOVSID=$l->{sid}" });
is($res->{status}, 200, 'the session lets the citizen in');
is($res->{json}{subject}, '110101199001011234', 'as the ID token\'s sub');

is($t->redis_cmd('EXISTS', "o1:oidc:state:$l->{state}"), 0,
   'the state is gone once used');

my @tok = idp_requests('idp', '/idp/token');
is(scalar @tok, 1, 'one token request');
like($tok[0]{headers}{authorization}, qr/^Basic /, 'client_secret_basic');
my %body = GovTest::form_decode($tok[0]{body});
is($body{grant_type}, 'authorization_code', 'grant_type');
like($body{code_verifier}, qr/^[A-Za-z0-9_-]{43}$/, 'with the PKCE verifier');
is($body{redirect_uri}, $t->url('/auth/callback'), 'and the redirect_uri');
unlike($tok[0]{body}, qr/client_secret|portal-secret/,
       'the secret is not in the body');
is(scalar(idp_requests('idp', '/idp/.well-known/openid-configuration')) > 0,
   1, 'discovery went through the proxy');

# another citizen, an agent's login too
my $l3 = $t->oidc_login('/auth/oidc', sub => '330106200001010011');
is($l3->{callback}{status}, 303, 'a second login');
is($l3->{callback}{headers}{location}, '/', 'return_to defaults to /');
$res = $t->get('/api/x', headers => { Cookie => "GOVSID=$l3->{sid}" });
is($res->{json}{subject}, '330106200001010011', 'its own subject');

# --- replays and swaps: 400, nothing made -----------------------------------

my $before = sessions();

$res = $t->get($l->{back}, headers => { %$html, Cookie => $l->{binding} });
is($res->{status}, 400, 'a replayed callback (code and state) is 400');
like(decode_utf8($res->{content}), qr/登录已经失效/, '... with a page in Chinese');
is(sessions(), $before, '... and no session');

my $a = $t->oidc_login('/auth/oidc', no_callback => 1);
my $b = $t->oidc_login('/auth/oidc', no_callback => 1);
$res = $t->get($a->{back}, headers => { %$html, Cookie => $b->{binding} });
is($res->{status}, 400, 'a state taken to another browser is 400');
$res = $t->get($a->{back}, headers => { %$html, Cookie => $a->{binding} });
is($res->{status}, 400, '... and the state is spent for its own browser too');
$res = $t->get($b->{back}, headers => $html);
is($res->{status}, 400, 'a callback without the binding cookie is 400');
is(sessions(), $before, 'no session from any of them');

$res = $t->get('/auth/callback?code=abc', headers => $html);
is($res->{status}, 400, 'no state: 400');
$res = $t->get('/auth/callback?state=abc&code=abc');
is($res->{status}, 400, 'an unknown state: 400');
is($res->{json}{error}, 'invalid_state', '... invalid_state');
my $c = $t->oidc_login('/auth/oidc', no_callback => 1);
(my $nocode = $c->{back}) =~ s/&code=\w+//;
$res = $t->get($nocode, headers => { %$html, Cookie => $c->{binding} });
is($res->{status}, 400, 'no code: 400');

# a state of provider "idp" brought to provider "bad"'s callback (mix-up)
$c = $t->oidc_login('/auth/oidc', no_callback => 1);
(my $mixed = $c->{back}) =~ s{^/auth/callback}{/auth/bad/callback};
$res = $t->get($mixed, headers => { %$html, Cookie => $c->{binding} });
is($res->{status}, 400, 'a state brought to another provider\'s callback');

# RFC 9207: an iss naming another issuer
$c = $t->oidc_login('/auth/oidc', no_callback => 1);
$res = $t->get("$c->{back}&iss=https%3A%2F%2Fevil.example",
               headers => { %$html, Cookie => $c->{binding} });
is($res->{status}, 400, 'an iss of another issuer: 400');

# an authorization older than 10 minutes
$c = $t->oidc_login('/auth/oidc', no_callback => 1);
my $key = "o1:oidc:state:$c->{state}";
$rec = decode_json($t->redis_cmd('GET', $key));
$rec->{t} -= 601;
$t->redis_cmd('SET', $key, encode_json($rec), 'KEEPTTL');
$res = $t->get($c->{back}, headers => { %$html, Cookie => $c->{binding} });
is($res->{status}, 400, 'an expired authorization: 400');
is(sessions(), $before, 'still no session');

# --- the provider says no ---------------------------------------------------

$t->write_file('idp/deny', '1');
$c = $t->oidc_login('/auth/oidc');
is($c->{callback}{status}, 401, 'error=access_denied: 401');
like(decode_utf8($c->{callback}{content}), qr/access_denied/, '... the page names it');
like(decode_utf8($c->{callback}{content}), qr/取消了登录/, '... in Chinese');
is($t->redis_cmd('EXISTS', "o1:oidc:state:$c->{state}"), 0,
   '... and the state is dropped');
unlink $t->prefix . '/idp/deny';

# a browser that declined comes back with the state of a login that is
# not (or no longer) known: the page all the same, never JSON
for my $q ('error=access_denied&state=' . ('s' x 43),
           'error=access_denied&error_description=User+cancelled',
           'error=access_denied')
{
    $res = $t->get("/auth/callback?$q",
                   headers => { Accept => 'text/html,application/xhtml+xml,'
                                          . 'application/xml;q=0.9,*/*;q=0.8' });
    is($res->{status}, 401, "a browser declining ($q): 401");
    like($res->{headers}{'content-type'}, qr{^text/html}, '... a page');
    like(decode_utf8($res->{content}), qr/取消了登录/, '... saying so');
    like(decode_utf8($res->{content}), qr{href="/auth/oidc}, '... with a link to try again');
}

$res = $t->get('/auth/callback?error=access_denied');
is($res->{status}, 401, 'error without state: 401 too');
is($res->{json}{error}, 'idp_error', '... idp_error');
is($res->{json}{reason}, 'access_denied', '... naming it');
$res = $t->get('/auth/callback?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E',
               headers => $html);
is($res->{status}, 401, 'a strange error: 401');
unlike(decode_utf8($res->{content}), qr/<script>alert/, '... never echoed raw');

# --- the token endpoint fails -----------------------------------------------

for my $case ([ 400, '{"error":"invalid_grant"}' ],
              [ 500, 'oops' ], [ 200, '{"access_token":"x"}' ],
              [ 200, 'not json' ])
{
    $t->write_file('idp/token', encode_json({ status => $case->[0],
                                              body => $case->[1] }));
    $c = $t->oidc_login('/auth/oidc');
    is($c->{callback}{status}, 502,
       "token endpoint answering $case->[0] $case->[1]: 502");
    like(decode_utf8($c->{callback}{content}), qr/统一身份认证平台暂时连不上/,
         '... a page saying so');
}
unlink $t->prefix . '/idp/token';
is(sessions(), $before, 'no session from a failed exchange');

# --- ID tokens that must not verify -----------------------------------------

my $old_nonce = $l->{nonce};
my @bad_tokens = (
    [ 'a wrong nonce', { claims => { nonce => 'x' x 43 } }, 'bad_nonce' ],
    [ 'the nonce of an earlier login', { claims => { nonce => $old_nonce } },
      'bad_nonce' ],
    [ 'no nonce', { claims => { nonce => undef } }, 'bad_nonce' ],
    [ 'another audience', { aud => 'someone-else' }, 'bad_audience' ],
    [ 'another issuer', { iss => 'https://evil.example/idp' }, 'bad_issuer' ],
    [ 'an expired one', { ttl => -600 }, 'expired' ],
);

for my $case (@bad_tokens) {
    $t->write_file('idp/token', encode_json($case->[1]));
    $c = $t->oidc_login('/auth/oidc', no_callback => 1);
    my $r = $t->get($c->{back}, headers => { Cookie => $c->{binding} });
    is($r->{status}, 401, "ID token with $case->[0]: 401");
    is($r->{json}{reason}, $case->[2], "... reason $case->[2]");
}
unlink $t->prefix . '/idp/token';

# an algorithm the relying party does not take: ES256 under the RS256 kid
$t->write_file('idp/key', 'ec ES256 idp1');
$c = $t->oidc_login('/auth/oidc', no_callback => 1);
$res = $t->get($c->{back}, headers => { Cookie => $c->{binding} });
is($res->{status}, 401, 'an ID token in another algorithm: 401');
is($res->{json}{reason}, 'alg_not_allowed', '... alg_not_allowed');

# a signature by another key under the known kid
$t->write_file('idp/key', 'rsa2 RS256 idp1');
$c = $t->oidc_login('/auth/oidc', no_callback => 1);
$res = $t->get($c->{back}, headers => { Cookie => $c->{binding} });
is($res->{status}, 401, 'an ID token signed by another key: 401');
is($res->{json}{reason}, 'bad_signature', '... bad_signature');
$t->write_file('idp/key', 'rsa RS256 idp1');
is(sessions(), $before, 'no session from any bad ID token');

# --- the provider rotates its key -------------------------------------------

my $jwks = scalar idp_requests('idp', '/idp/jwks');
ok($jwks >= 1, "the JWKS was fetched ($jwks)");

$t->oidc_key('idp', [ 'rsa2', 'RS256', 'idp2' ], [ 'rsa', 'RS256', 'idp1' ]);
my @rot;
push @rot, $t->oidc_login('/auth/oidc') for 1 .. 4;
is(scalar(grep { $_->{callback}{status} == 303 } @rot), 4,
   'logins after the rotation, with the new kid, succeed');
is(scalar idp_requests('idp', '/idp/jwks'), $jwks + 1,
   'the new kid made one JWKS fetch, across both workers');
$res = $t->get('/api/home', headers => { Cookie => "GOVSID=$l->{sid}" });
is($res->{status}, 200, 'a session from before the rotation lives on');

# a kid nobody publishes: within the minute, no other fetch
$t->write_file('idp/key', 'rsa RS256 idp9');
for (1 .. 3) {
    $c = $t->oidc_login('/auth/oidc', no_callback => 1);
    $res = $t->get($c->{back}, headers => { Cookie => $c->{binding} });
    is($res->{json}{reason}, 'unknown_key', 'an unpublished kid: unknown_key');
}
is(scalar idp_requests('idp', '/idp/jwks'), $jwks + 1,
   'unknown kids do not reach the provider again within the minute');
$t->write_file('idp/key', 'rsa2 RS256 idp2');

# --- a rotation while the provider's JWKS cannot be had ----------------------
#
# The new kid's login is the provider's failure (the 502 page), not a bad
# token; once the keys can be had again the next login gets them within
# seconds, not after the minute of the last refresh.

$t->redis_cmd('DEL', @{ $t->redis_cmd('KEYS', 'o1:*refresh*') });
$t->write_file('idp/jwks.down', '1');
$t->oidc_key('idp', [ 'rsa', 'RS256', 'idp3' ], [ 'rsa2', 'RS256', 'idp2' ]);
$jwks = scalar idp_requests('idp', '/idp/jwks');
for my $n (1 .. 2) {
    $c = $t->oidc_login('/auth/oidc', no_callback => 1);
    $res = $t->get($c->{back}, headers => { %$html, Cookie => $c->{binding} });
    is($res->{status}, 502, "a new kid while the JWKS is down ($n): 502");
    like(decode_utf8($res->{content}), qr/统一身份认证平台暂时连不上/,
         '... the page saying the platform cannot be reached');
}
is(scalar idp_requests('idp', '/idp/jwks'), $jwks + 1,
   '... the provider asked once meanwhile, not per login');
unlink $t->prefix . '/idp/jwks.down';
sleep 5.2;
$c = $t->oidc_login('/auth/oidc');
is($c->{callback}{status}, 303,
   'the JWKS back: the next login after a few seconds gets the new key');
is(scalar idp_requests('idp', '/idp/jwks'), $jwks + 2, '... fetched again');

# --- discovery garbage, provider down ---------------------------------------

$res = $t->get('/auth/bad', headers => $html);
is($res->{status}, 502, 'discovery answering garbage: 502');
like(decode_utf8($res->{content}), qr/统一身份认证平台暂时连不上/, '... a page saying so');
like($t->error_log, qr/gov oidc "bad": discovery document refused/,
     '... and the log says why');

$c = $t->oidc_login('/auth/oidc', no_callback => 1);
$t->stop_backend('idp');
$res = $t->get($c->{back}, headers => { %$html, Cookie => $c->{binding} });
is($res->{status}, 502, 'the provider down during a callback: 502');
is(sessions(), $before + 5, 'and no session from it');

# --- logout at the provider (RP-initiated) ----------------------------------

my $origin = { Origin => $t->url('') };
$res = $t->http('POST', '/auth/logout', headers => {
    %$html, %$origin, Cookie => "GOVSID=$l->{sid}" });
is($res->{status}, 303, 'logout of an OIDC session: 303');
is($res->{headers}{location},
   "$iss/logout?client_id=portal&post_logout_redirect_uri="
   . GovTest::uri_escape($t->url('/')),
   '... to the provider\'s end_session_endpoint');
is($t->get('/api/home', headers => { Cookie => "GOVSID=$l->{sid}" })
   ->{status}, 401, 'the session is gone');

$res = $t->http('POST', '/auth/logout', headers => {
    %$origin, Cookie => "GOVSID=$l3->{sid}" });
is($res->{status}, 204, 'a non-browser logout: 204');
like($res->{headers}{location} // '', qr{^\Q$iss\E/logout\?},
     '... naming the end_session_endpoint');

# a token login still logs out to "/"
my $token = $t->token(key => 'ec', alg => 'ES256', kid => 'e1',
                      sub => '110101199001011234');
$res = $t->get("/auth/login?token=$token", headers => $html);
my ($sid) = ($res->{headers}{'set-cookie'} // '') =~ /^GOVSID=([^;]+)/;
$res = $t->http('POST', '/auth/logout', headers => {
    %$html, %$origin, Cookie => "GOVSID=$sid" });
is($res->{headers}{location}, '/', 'a token session logs out to /');

# --- nothing secret in the logs ---------------------------------------------

my $logs = $t->error_log . $t->read_file('logs/access.log');
my $id_token = $t->read_file('idp/last_id_token');
ok(length $id_token > 100, 'the provider minted ID tokens');
unlike($logs, qr/\Q$id_token\E/, 'no ID token in a log');
my ($sig) = $id_token =~ /\.([^.]+)$/;
unlike($logs, qr/\Q$sig\E/, 'not even its signature');
my ($code) = $l->{back} =~ /code=(\w+)/;
unlike($logs, qr/\Q$code\E/, 'no authorization code in a log');
unlike($logs, qr/portal-secret/, 'no client secret in a log');
unlike($logs, qr/at-[0-9a-f]{32}/, 'no access token in a log');

$t->done;
done_testing();
