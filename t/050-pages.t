#!/usr/bin/perl

# Pages for browsers: gov_templates compiles the templates when the
# configuration loads (errors with file and line); the bundle list, the
# guide and the progress page answer Accept: text/html, escaped.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(hmac_sha256_hex);
use Encode qw(decode_utf8 encode_utf8);
use GovTest;

my $t = GovTest->new;
$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);
my $secret = 'department-secret-0123456789';
$t->write_file('conf/dept.secret', "$secret\n");

$t->backend(sub {
    my ($req) = @_;
    my $app = decode_json($req->{body});
    return { status => 200, body => encode_json({ receipt => "R-$app->{id}" }) };
}, name => 'nhc');

my $HTTP = <<'EOF';
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_templates %%TEMPLATES%%;
    gov_material birth_cert "出生医学证明" elicense;
    gov_material id_card "身份证";
    gov_field name "姓名";
    gov_field phone "电话" optional;
    gov_item nhc {
        name "出生医学证明"; department "卫生健康委";
        backend /internal/nhc; callback_secret_file dept.secret;
        materials birth_cert id_card; fields name phone; time_limit 3;
    }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc;
                         time_limit 10; }
EOF

my $SERVER = <<'EOF';
    location /bundles/ { gov_bundles; }
    location /callback/ { gov_callback; }
    location /progress/ { gov_progress; }
    location /internal/nhc { internal;
                             proxy_pass http://127.0.0.1:%%BACKEND:nhc%%/s; }
EOF

# a template with a mistake: nginx -t names the file and the line
$t->write_file('tpl-bad/page.mustache', "<p>\n{{#open}}\n</p>\n");
(my $bad = $HTTP) =~ s/%%TEMPLATES%%/%%PREFIX%%\/tpl-bad/;
$t->write_conf(http => $bad, server => $SERVER);
my ($rc, $out) = $t->test_conf;
isnt($rc, 0, 'a broken template fails nginx -t');
like($out, qr/template error in \S+page\.mustache:2: "\{\{#open\}\}" is never closed in \S+nginx\.conf:\d+/,
     'with the template file and line');

(my $good = $HTTP) =~ s/%%TEMPLATES%%/%%ROOT%%\/templates/;
$t->write_conf(http => $good, server => $SERVER);
$t->write_file('logs/error.log', '');
$t->start_nginx;

my %html = (Accept => 'text/html,application/xhtml+xml');

my $res = $t->get('/bundles/', headers => \%html);
is($res->{status}, 200, 'the bundle list page');
like($res->{headers}{'content-type'}, qr{^text/html; charset=utf-8}, 'HTML');
my $page = decode_utf8($res->{content});
like($page, qr/<html lang="zh-CN">/, 'in Chinese');
like($page, qr{<a href="/bundles/newborn">\x{65b0}\x{751f}\x{513f}}, 'links the bundle');

$res = $t->get('/bundles/', headers => { Accept => 'application/json' });
like($res->{headers}{'content-type'}, qr{^application/json}, 'API clients get JSON');

$res = $t->get('/bundles/newborn', headers => \%html);
$page = decode_utf8($res->{content});
is($res->{status}, 200, 'the guide page');
like($page, qr/\x{51fa}\x{751f}\x{533b}\x{5b66}\x{8bc1}\x{660e} <span class="badge">/,
     'an elicense material carries its badge');
like($page, qr/\x{7535}\x{8bdd}\x{ff08}\x{9009}\x{586b}\x{ff09}/, 'optional fields say so');

my $tok = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                    sub => '110101199001011234');
$res = $t->post('/bundles/newborn/applications',
                body => encode_json({ fields => { name => 'x' },
                                      materials => { birth_cert => 'elicense',
                                                     id_card => 'r' } }),
                headers => { Authorization => "Bearer $tok",
                             'Content-Type' => 'application/json' });
my $id = $res->{json}{id};

# a department note with markup is shown as text
my $ts = time;
my $body = '{"state":"correction","note":"<script>alert(1)</script> & \"x\""}';
$t->post("/callback/$id/nhc", body => $body, headers => {
    'X-Gov-Timestamp' => $ts,
    'X-Gov-Signature' => 'sha256=' . hmac_sha256_hex("$ts.$body", $secret) });

$res = $t->get("/progress/$id", headers => { %html,
                                             Authorization => "Bearer $tok" });
$page = decode_utf8($res->{content});
is($res->{status}, 200, 'the progress page');
like($page, qr/role="progressbar" aria-valuenow="\d+"/, 'with an accessible progress bar');
like($page, qr/\x{8865}\x{6b63}\x{4e2d}/, 'the state in Chinese');
like($page, qr/&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;x&quot;/,
     'markup from a department is escaped');
unlike($page, qr/<script>/, 'no script gets through');
like($page, qr/class="card warn"/, 'attention is highlighted');

$res = $t->get("/progress/$id", headers => { Authorization => "Bearer $tok" });
like($res->{headers}{'content-type'}, qr{^application/json}, 'API: JSON');

$t->done;
done_testing();
