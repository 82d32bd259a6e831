#!/usr/bin/perl

# Bearer JWTs through nginx: keys pinned to one algorithm, the known attacks
# on libjwt 1.10 each rejected with the contract's reason, claim checks,
# the verified-token cache, identity headers and variables, delegation,
# X-Gov-* stripping, CORS preflights, browser redirects, Redis down.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;

my $t = GovTest->new;
$t->start_redis;
my $keys = $t->gen_keys;

$t->write_jwks('keys.jwks', [ 'rsa', 'RS256', 'r1' ], [ 'ec', 'ES256', 'e1' ],
               [ 'hs', 'HS256', 'h1' ]);

$t->echo_backend;

$t->write_conf(
    http => <<'EOF',
    large_client_header_buffers 4 32k;
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_jwt_key_file %%PREFIX%%/keys/rsa2.pub alg=RS384 kid=r2;
    gov_jwt_issuer https://idp.gov.example;
    gov_jwt_audience portal;
    gov_session_cookie GOVSID insecure;
EOF
    server => <<'EOF',
    location /api/ {
        gov_auth required;
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }

    location /strict/ {
        gov_auth required;
        gov_jwt_leeway 0;
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }

    location /noaud/ {
        gov_auth required;
        gov_jwt_audience other;
        gov_jwt_require sub exp dept;
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }

    location /opt/ {
        gov_auth optional;
        add_header X-Sub "$gov_subject" always;
        add_header X-Actor "$gov_actor" always;
        add_header X-Reason "$gov_auth_reason" always;
        add_header X-Dept "$gov_claim_dept" always;
        add_header X-Roles "$gov_claim_roles" always;
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }

    location /nohdr/ {
        gov_auth required;
        gov_identity_headers off;
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }

    location /page/ {
        gov_auth required;
        gov_auth_login_url /login-page;
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }

    location /open/ {
        proxy_pass http://127.0.0.1:%%BACKEND:echo%%;
    }

    location = /gov/status { gov_status; }
EOF
);

my ($rc, $out) = $t->test_conf;
is($rc, 0, 'nginx -t accepts JWKS and PEM keys') or diag($out);
$t->start_nginx;

my %base = (iss => 'https://idp.gov.example', aud => 'portal',
            sub => '110101199001011234');

sub bearer {
    my ($path, $token, %h) = @_;
    return $t->get($path, headers => {
        defined $token ? (Authorization => "Bearer $token") : (), %h });
}

sub reason_is {
    my ($res, $reason, $name) = @_;
    subtest $name => sub {
        is($res->{status}, 401, 'status 401');
        is_deeply($res->{json}, { error => 'unauthenticated',
                                  reason => $reason }, "reason $reason");
        is($res->{headers}{'www-authenticate'},
           'Bearer realm="gov", error="invalid_token"', 'RFC 6750 header');
    };
}

# --- good tokens ----------------------------------------------------------

for my $case ([ 'rsa', 'RS256', 'r1' ], [ 'ec', 'ES256', 'e1' ],
              [ 'hs', 'HS256', 'h1' ], [ 'rsa2', 'RS384', 'r2' ])
{
    my ($key, $alg, $kid) = @$case;
    my $tok = $t->token(key => $key, alg => $alg, kid => $kid, %base,
                        name => '张三');
    my $res = bearer('/api/x', $tok);
    is($res->{status}, 200, "$alg token ($kid) accepted") or diag($res->{content});
    is($res->{json}{'x-gov-subject'}, '110101199001011234',
       "$alg: X-Gov-Subject reaches the backend");
    is($res->{json}{'x-gov-name'}, '%E5%BC%A0%E4%B8%89',
       "$alg: X-Gov-Name is percent-encoded UTF-8");
}

my $es_nokid = $t->token(key => 'ec', alg => 'ES256', %base);
is(bearer('/api/x', $es_nokid)->{status}, 200,
   'without kid the one key pinned to the alg is used');

# --- the attacks ------------------------------------------------------------

my $now = time;
my $claims = encode_json({ %base, exp => $now + 600, iat => $now });

for my $none ('none', 'None', 'NONE', 'nOnE') {
    my $tok = $t->forge(qq({"alg":"$none","typ":"JWT"}), $claims);
    reason_is(bearer('/api/x', $tok), 'alg_not_allowed', "alg $none");
}

my $rsa_pem = $t->read_file('keys/rsa.pub');
my $ec_pem = $t->read_file('keys/ec.pub');
my $jwks_json = $t->read_file('keys/keys.jwks');

reason_is(bearer('/api/x', $t->forge('{"alg":"HS256","kid":"r1"}', $claims,
                                     $rsa_pem)),
          'alg_not_allowed', 'HS256 signed with the RSA key PEM (kid r1)');
reason_is(bearer('/api/x', $t->forge('{"alg":"HS256","kid":"e1"}', $claims,
                                     $ec_pem)),
          'alg_not_allowed', 'HS256 signed with the EC key PEM (kid e1)');
reason_is(bearer('/api/x', $t->forge('{"alg":"HS256","kid":"r1"}', $claims,
                                     $jwks_json)),
          'alg_not_allowed', 'HS256 signed with the JWKS text');
reason_is(bearer('/api/x', $t->forge('{"alg":"HS256"}', $claims, $rsa_pem)),
          'bad_signature', 'HS256 signed with the RSA PEM, no kid');

reason_is(bearer('/api/x', $t->token(key => 'rsa', alg => 'RS256',
                                     kid => 'e1', %base)),
          'alg_not_allowed', 'a kid that selects a key of another alg');
reason_is(bearer('/api/x', $t->token(key => 'rsa', alg => 'RS256',
                                     kid => 'zz', %base)),
          'unknown_key', 'an unknown kid');
reason_is(bearer('/api/x', $t->token(key => 'rsa', alg => 'RS512', %base)),
          'unknown_key', 'no kid and no key pinned to RS512');
reason_is(bearer('/api/x', $t->token(key => 'ec384', alg => 'ES384',
                                     kid => 'e1', %base)),
          'alg_not_allowed', 'ES384 token against the P-256 key');
reason_is(bearer('/api/x', $t->token(key => 'ec2', alg => 'ES256',
                                     kid => 'e1', %base)),
          'bad_signature', 'ES256 token signed by another P-256 key');

my $good = $t->token(key => 'rsa', alg => 'RS256', kid => 'r1', %base);
my ($h, $p, $s) = split /\./, $good;

{
    my $hdr = decode_json(MIME::Base64::decode_base64url($h));
    $hdr->{extra} = 'x';
    my $h2 = $t->b64url(encode_json($hdr));
    reason_is(bearer('/api/x', "$h2.$p.$s"), 'bad_signature',
              'tampered header');

    my $pl = decode_json(MIME::Base64::decode_base64url($p));
    $pl->{sub} = '999';
    my $p2 = $t->b64url(encode_json($pl));
    reason_is(bearer('/api/x', "$h.$p2.$s"), 'bad_signature',
              'tampered payload');

    my $s2 = $s;
    substr($s2, 10, 1) = substr($s2, 10, 1) eq 'A' ? 'B' : 'A';
    reason_is(bearer('/api/x', "$h.$p.$s2"), 'bad_signature',
              'tampered signature');

    reason_is(bearer('/api/x', "$h.$p."), 'bad_signature',
              'signature removed');
    reason_is(bearer('/api/x', "$h.$p"), 'malformed', 'two segments');
    reason_is(bearer('/api/x', "$h.$p.$s.$s"), 'malformed', 'four segments');
    reason_is(bearer('/api/x', "$h.$p.$s" . '+'), 'malformed',
              'a character outside base64url');
    reason_is(bearer('/api/x', "$h=.$p.$s"), 'malformed', 'padding');
    reason_is(bearer('/api/x', 'A' x 9000 . ".$p.$s"), 'malformed',
              'a token over 8 KiB');
}

reason_is(bearer('/api/x', $t->forge('{"alg":"HS256","alg":"HS256"}',
                                     $claims, $t->hs_secret)),
          'malformed', 'duplicate keys in the header');
reason_is(bearer('/api/x',
                 $t->forge('{"alg":"HS256"}',
                           qq({"sub":"a","sub":"b","exp":@{[ $now + 60 ]}}),
                           $t->hs_secret)),
          'malformed', 'duplicate keys in the payload');
reason_is(bearer('/api/x', $t->forge('{"alg":"HS256","typ":"at+jwt"}',
                                     $claims, $t->hs_secret)),
          'malformed', 'typ other than JWT');

# the forge helper itself is sound: the same token with a right header passes
is(bearer('/api/x', $t->forge('{"alg":"HS256","typ":"JWT"}', $claims,
                              $t->hs_secret))->{status},
   200, 'a hand-made HS256 token with the right secret is accepted');

# --- claims -------------------------------------------------------------------

sub hs {
    my (%c) = @_;
    return $t->forge('{"alg":"HS256","kid":"h1"}', encode_json({ %c }),
                     $t->hs_secret);
}

is(bearer('/api/x', hs(%base, exp => $now - 30))->{status}, 200,
   'expired 30s ago: inside the 60s leeway');
reason_is(bearer('/api/x', hs(%base, exp => $now - 120)), 'expired',
          'expired outside the leeway');
reason_is(bearer('/strict/x', hs(%base, exp => $now - 2)), 'expired',
          'expired with leeway 0');
is(bearer('/api/x', hs(%base, exp => $now + 60, nbf => $now + 30))->{status},
   200, 'nbf 30s ahead: inside the leeway');
reason_is(bearer('/api/x', hs(%base, exp => $now + 600, nbf => $now + 300)),
          'not_yet_valid', 'nbf outside the leeway');
reason_is(bearer('/api/x', hs(%base)), 'missing_claim',
          'missing exp when required');
reason_is(bearer('/api/x', hs(%base, exp => "$now")), 'malformed',
          'non-numeric exp');
reason_is(bearer('/api/x', hs(%base, exp => $now + 60,
                              iss => 'https://evil.example')),
          'bad_issuer', 'another issuer');
reason_is(bearer('/api/x', hs(%base, exp => $now + 60, aud => 'other')),
          'bad_audience', 'another audience');
is(bearer('/api/x', hs(%base, exp => $now + 60,
                       aud => [ 'x', 'portal' ]))->{status},
   200, 'aud as an array containing the audience');
reason_is(bearer('/api/x', hs(%base, exp => $now + 60, aud => [ 'x' ])),
          'bad_audience', 'aud as an array without it');
reason_is(bearer('/noaud/x', hs(%base, exp => $now + 60, aud => 'other')),
          'missing_claim', 'gov_jwt_require: a claim that is missing');
is(bearer('/noaud/x', hs(%base, exp => $now + 60, aud => 'other',
                         dept => 'x'))->{status},
   200, 'gov_jwt_require: present');

# --- the cache ------------------------------------------------------------------

my $m0 = $t->metrics;
my $cached = $t->token(key => 'rsa', alg => 'RS256', kid => 'r1', %base);
bearer('/api/x', $cached) for 1 .. 5;
my $m1 = $t->metrics;
cmp_ok($m1->{'gov_cache_total{cache="jwt",result="hit"}'}
       - ($m0->{'gov_cache_total{cache="jwt",result="hit"}'} // 0),
       '>=', 3, 'the same token is verified once per worker, then cached');

my $short = $t->token(key => 'hs', alg => 'HS256', kid => 'h1', %base,
                      ttl => 2);
is(bearer('/strict/x', $short)->{status}, 200, 'a token about to expire');
sleep 3;
reason_is(bearer('/strict/x', $short), 'expired',
          'a cached token is refused once its exp has passed');

# --- identity, delegation, variables, stripping ---------------------------------

my $agent = $t->token(key => 'ec', alg => 'ES256', kid => 'e1', %base,
                      act => 'AGENT-007', name => "O'Brien \"Bob\"",
                      claims => '{"dept":"户籍科","roles":["a","b"]}');
my $res = bearer('/api/x', $agent, 'X-Gov-Subject' => 'forged',
                 'x-gov-actor' => 'forged', 'X-GOV-Extra' => '1');
is($res->{status}, 200, 'a delegated token is accepted');
is($res->{json}{'x-gov-subject'}, '110101199001011234',
   'the client cannot forge X-Gov-Subject');
is($res->{json}{'x-gov-actor'}, 'AGENT-007', 'X-Gov-Actor carries the agent');
is($res->{json}{'x-gov-extra'}, undef, 'every client X-Gov-* is removed');
is($res->{json}{'x-gov-name'}, 'O%27Brien%20%22Bob%22',
   'quotes in a name are percent-encoded');

$res = bearer('/opt/x', $agent);
is($res->{headers}{'x-sub'}, '110101199001011234', '$gov_subject');
is($res->{headers}{'x-actor'}, 'AGENT-007', '$gov_actor');
is($res->{headers}{'x-dept'}, '户籍科', '$gov_claim_NAME, a string');
is($res->{headers}{'x-roles'}, '["a","b"]', '$gov_claim_NAME, an array');
ok(!$res->{headers}{'x-reason'}, '$gov_auth_reason is empty when accepted');

$res = bearer('/opt/x', undef);
is($res->{status}, 200, 'optional: anonymous requests pass');
is($res->{headers}{'x-reason'}, 'missing', '$gov_auth_reason says missing');
is($res->{json}{'x-gov-subject'}, undef, 'and carry no identity header');

$res = bearer('/opt/x', 'garbage');
is($res->{status}, 200, 'optional: a bad token is anonymous, not refused');
is($res->{headers}{'x-reason'}, 'malformed', 'with its reason');

$res = bearer('/nohdr/x', $agent);
is($res->{status}, 200, 'gov_identity_headers off');
is($res->{json}{'x-gov-subject'}, undef, 'sends no identity header');

$res = $t->get('/open/x', headers => { 'X-Gov-Subject' => 'forged',
                                        'X-Gov-Actor' => 'forged',
                                        'X-Real' => 'kept' });
is($res->{json}{'x-gov-subject'}, undef,
   'gov_auth off: client X-Gov-Subject is removed too');
is($res->{json}{'x-gov-actor'}, undef, 'and X-Gov-Actor');
is($res->{json}{'x-real'}, 'kept', 'other headers are kept');
is($res->{json}{host}, '127.0.0.1:' . $t->{backends}{echo}{port},
   'headers after a removed one keep their values (Host)');

# X-Gov-* first, in the middle, last, alone and in runs, with identity
# headers added after them, over a raw connection
for my $case ([ 'A', 'B', 'Host', 'C', 'Keep', 'D', 'E' ],
              [ 'Host', 'A' ], [ 'A', 'Host' ], [ 'Host', 'Keep', 'A' ],
              [ 'A', 'B', 'C', 'Host', 'Keep' ],
              [ 'Host', (map { "X$_" } 1 .. 30), 'Keep', 'A', 'B' ])
{
    for my $path ('/open/raw', '/api/raw') {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $t->port) or die;
        my $req = "GET $path HTTP/1.0\r\n";
        for (@$case) {
            $req .= $_ eq 'Host' ? "Host: raw.example\r\n"
                  : $_ eq 'Keep' ? "X-Keep: k\r\n"
                  : /^X/ ? "X-Other-$_: o\r\n"
                  : "X-Gov-$_: forged\r\n";
        }
        $req .= "Authorization: Bearer $agent\r\n\r\n";
        print $s $req;
        local $/;
        my $raw = <$s>;
        my ($body) = $raw =~ /\r\n\r\n(.*)\z/s;
        my $seen = eval { decode_json($body) } || {};
        my @gov = grep { $seen->{$_} && $seen->{$_} eq 'forged' } keys %$seen;
        is_deeply(\@gov, [], "@$case $path: no client X-Gov-* left")
            or diag(explain($seen));
        is($seen->{'x-keep'}, (grep { $_ eq 'Keep' } @$case) ? 'k' : undef,
           "@$case $path: other headers kept");
        if ($path eq '/api/raw') {
            is($seen->{'x-gov-subject'}, '110101199001011234',
               "@$case $path: the real identity header is added");
        }
    }
}

# header injection through a name claim
my $evil = $t->token(key => 'hs', alg => 'HS256', kid => 'h1', %base,
                     name => "x\r\nX-Injected: yes");
$res = bearer('/api/x', $evil);
is($res->{status}, 200, 'a name with CR LF is accepted');
is($res->{json}{'x-injected'}, undef, 'and cannot inject a header');

# --- missing, preflight, browsers ---------------------------------------------

reason_is(bearer('/api/x', undef), 'missing', 'no token');
reason_is($t->get('/api/x', headers => { Authorization => 'Basic eDp5' }),
          'missing', 'another scheme');
reason_is(bearer('/api/x', ''), 'malformed', 'an empty bearer token');

$res = $t->http('OPTIONS', '/api/x', headers => {
    Origin => 'https://portal.example',
    'Access-Control-Request-Method' => 'POST' });
is($res->{status}, 200, 'a CORS preflight is not challenged');

$res = $t->http('OPTIONS', '/api/x');
is($res->{status}, 401, 'a plain OPTIONS is');

$res = $t->get('/page/a/b?x=1&y=2', headers => {
    Accept => 'text/html,application/xhtml+xml' });
is($res->{status}, 302, 'a browser navigation is redirected');
is($res->{headers}{location},
   '/login-page?return_to=%2Fpage%2Fa%2Fb%3Fx%3D1%26y%3D2',
   'to the login URL with return_to');

$res = $t->get('/page/a', headers => { Accept => 'application/json' });
is($res->{status}, 401, 'an API client on the same location gets 401');

# --- ES256 after a key's first checks: its own table (core/gov_p256.c) ------

# two workers, each makes the key's table after 64 checks of its own
my ($es_ok, $es_bad) = (0, 0);
for my $i (1 .. 200) {
    my $sub = sprintf('1101011990010%05d', $i);
    $es_ok++ if bearer('/api/x', $t->token(key => 'ec', alg => 'ES256',
                                           kid => 'e1', %base, sub => $sub))
                ->{status} == 200;
    $es_bad++ if bearer('/api/x', $t->token(key => 'ec2', alg => 'ES256',
                                            kid => 'e1', %base, sub => $sub))
                 ->{status} == 401;
}
is($es_ok, 200, '200 fresh ES256 tokens accepted (checked with the table '
                . 'once the key has checked 64)');
is($es_bad, 200, '... and 200 signed by another P-256 key refused');

# --- Redis down: bearer tokens keep working -----------------------------------

$t->stop_redis;
my $fresh = $t->token(key => 'ec', alg => 'ES256', kid => 'e1', %base);
is(bearer('/api/x', $fresh)->{status}, 200,
   'Redis down: a bearer token still works');

my $m = $t->metrics;
cmp_ok($m->{'gov_auth_total{reason="alg_not_allowed"}'}, '>=', 8,
       'rejections are counted by reason');

unlike($t->error_log, qr/\Q$p\E/, 'no token payload in the error log');

$t->done;
done_testing();
