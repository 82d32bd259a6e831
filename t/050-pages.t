#!/usr/bin/perl

# Pages for browsers: gov_templates compiles the templates when the
# configuration loads (errors with file and line); the bundle list, the
# guide and the progress page answer Accept: text/html, escaped.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8 encode_utf8);
use Digest::SHA ();
use MIME::Base64 ();
use GovTest;

my $t = GovTest->world(
    start => 0,
    dept => sub {
        my ($req) = @_;
        my $app = decode_json($req->{body});
        return { status => 200,
                 body => encode_json({ receipt => "R-$app->{id}" }) };
    },
    bundles => <<'EOF', server => <<'EOF');
    gov_material birth_cert "出生医学证明" elicense;
    gov_material id_card "身份证";
    gov_field name "姓名";
    gov_field phone "电话" "pattern=1[0-9]{10}" optional;
    gov_item nhc {
        name "出生医学证明"; department "卫生健康委";
        backend /internal/dept; callback_secret_file dept.secret;
        materials birth_cert id_card; fields name phone; time_limit 3;
    }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc;
                         time_limit 10; }
EOF
    location = /auth/login { gov_login; }
    location = /text-size { gov_text_size; }
    location /quiet/ { gov_security_headers off; gov_bundles; }
EOF

# gov_hsts: a time or off
$t->write_world(http => "    gov_hsts 0;\n");
my ($hrc, $hout) = $t->test_conf;
isnt($hrc, 0, 'gov_hsts 0 fails nginx -t');
like($hout, qr/"gov_hsts": "0" is neither a time above zero \("180d"\) nor "off" in \S+nginx\.conf:\d+/,
     'with what it takes');

# a template with a mistake: nginx -t names the file and the line
$t->write_file('tpl-bad/page.mustache', "<p>\n{{#open}}\n</p>\n");
$t->write_world(http => "    gov_templates %%PREFIX%%/tpl-bad;\n");
my ($rc, $out) = $t->test_conf;
isnt($rc, 0, 'a broken template fails nginx -t');
like($out, qr/template error in \S+page\.mustache:2: "\{\{#open\}\}" is never closed in \S+nginx\.conf:\d+/,
     'with the template file and line');

# a <style> with a tag cannot be hashed beforehand: said, and let in
$t->write_file('tpl-tag/page.mustache',
               "<style>p { color: {{colour}}; }</style>\n");
$t->write_world(http => "    gov_templates %%PREFIX%%/tpl-tag;\n");
($rc, $out) = $t->test_conf;
is($rc, 0, 'a <style> with a tag passes nginx -t');
like($out, qr/a <style> of template "\S+page\.mustache" has a tag: the pages' Content-Security-Policy allows inline styles \('unsafe-inline'\)/,
     '... with a warning that the policy allows inline styles');

$t->write_world(http => "    gov_templates %%ROOT%%/templates;\n");
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
my $query_code = $res->{json}{query_code};

# a department note with markup is shown as text
$t->callback($id, 'nhc',
             '{"state":"correction","note":"<script>alert(1)</script> & \"x\""}');

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
like($page, qr/\x{7533}\x{8bf7}\x{4eba} 1101\*{10}1234/,
     'the ID number masked, even to the applicant');
unlike($page, qr/110101199001011234/, 'nowhere in full');
like($page, qr/\d{4}\x{5e74}\d\d\x{6708}\d\d\x{65e5} \d\d:\d\d/,
     'the time written for people');

# --- what a page lets the browser do (CONTRACT section 17) ----------------

my $h = $res->{headers};
my $csp = $h->{'content-security-policy'} // '';
like($csp, qr/(?:^|; )default-src 'self'(?:;|$)/, 'CSP: the portal\'s own only');
like($csp, qr/(?:^|; )script-src 'self'(?:;|$)/, 'CSP: no inline script');
like($csp, qr/(?:^|; )frame-ancestors 'none'(?:;|$)/, 'CSP: never in a frame');
like($csp, qr/(?:^|; )form-action 'self'(?:;|$)/, 'CSP: forms post home only');
unlike($csp, qr/unsafe/, 'CSP: nothing unsafe allowed');
# each <style> of the page let in by its hash, no style attribute
my @styles = $page =~ m{<style>(.*?)</style>}gs;
ok(@styles, 'the page has its stylesheet inline');
for my $style (@styles) {
    my $hash = MIME::Base64::encode_base64(
        Digest::SHA::sha256(Encode::encode_utf8($style)), '');
    like($csp, qr/'sha256-\Q$hash\E'/, 'CSP: its <style> let in by hash');
}
unlike($page, qr/\sstyle="/, 'no style attribute, which CSP would block');
is($h->{'x-content-type-options'}, 'nosniff', 'nosniff');
is($h->{'x-frame-options'}, 'DENY', 'X-Frame-Options for older browsers');
is($h->{'referrer-policy'}, 'same-origin', 'the address goes to the portal only');
like($h->{'permissions-policy'} // '', qr/camera=\(\)/, 'no powerful feature');
if ($t->proto eq 'h2') {
    like($h->{'strict-transport-security'} // '', qr/^max-age=15552000$/,
         'over TLS: HSTS, 180 days');
} else {
    ok(!exists $h->{'strict-transport-security'}, 'no HSTS over plain HTTP');
}

$res = $t->get("/progress/$id?code=$query_code", headers => \%html);
is($res->{status}, 200, 'the page by query code');
is($res->{headers}{'referrer-policy'}, 'no-referrer',
   'a query code in the address: no Referer at all');

$res = $t->get('/quiet/', headers => \%html);
is($res->{status}, 200, 'gov_security_headers off: the page');
ok(!grep({ exists $res->{headers}{$_} }
         qw(content-security-policy x-content-type-options referrer-policy
            x-frame-options)),
   '... without the headers (the operator sends their own)');

$res = $t->get("/progress/$id", headers => { Authorization => "Bearer $tok" });
like($res->{headers}{'content-type'}, qr{^application/json}, 'API: JSON');
is($res->{headers}{'x-content-type-options'}, 'nosniff', 'API: nosniff too');
ok(!exists $res->{headers}{'content-security-policy'},
   'API: no page policy');

# --- the application form --------------------------------------------------

sub form {
    my (@pairs) = @_;
    my @out;
    while (my ($k, $v) = splice @pairs, 0, 2) {
        for ($k, $v) {
            my $s = encode_utf8($_);
            $s =~ s/([^A-Za-z0-9\-._~ ])/sprintf('%%%02X', ord $1)/ge;
            $s =~ tr/ /+/;
            $_ = $s;
        }
        push @out, "$k=$v";
    }
    return join '&', @out;
}

sub apps { scalar @{ $t->redis_cmd('KEYS', 'gov:app:*') } }

my %bearer = (Authorization => "Bearer $tok");
my %post_form = (%html, %bearer,
                 'Content-Type' => 'application/x-www-form-urlencoded');

$res = $t->get('/bundles/newborn/apply', headers => \%html);
is($res->{status}, 401, 'the form without identity: 401 (no login URL here)');
$page = decode_utf8($res->{content});
like($page, qr/<h1>请先登录<\/h1>/, 'a login-required page');
like($res->{headers}{'www-authenticate'} // '', qr/^Bearer/, 'with the challenge');

$res = $t->get('/bundles/newborn/apply', headers => { %html, %bearer });
is($res->{status}, 200, 'the application form');
$page = decode_utf8($res->{content});
like($page, qr{<form method="post" action="/bundles/newborn/applications"},
     'posts to the applications endpoint');
like($page, qr{name="fields\.name" value="" required>}, 'a required field');
like($page, qr{<label for="in-name">姓名}, 'labelled');
like($page, qr{name="fields\.phone" value="" pattern="1\[0-9\]\{10\}">},
     'the pattern as an HTML constraint, the optional field not required');
like($page, qr{name="elicense\.birth_cert" value="1" checked>},
     'the e-licence offered, ticked');
like($page, qr{name="materials\.id_card" value="" required>},
     'a material without e-licence needs a reference');
my ($key) = $page =~ /name="idempotency_key" value="([0-9a-f]{32})"/;
ok($key, 'a fresh idempotency key in the form');
unlike($page, qr/role="alert"/, 'a blank form shows no problems');

$res = $t->get('/bundles/newborn/apply', headers => \%bearer);
is($res->{json}{id}, 'newborn', 'an API client gets the guide as the form');

my $before = apps();
$res = $t->post('/bundles/newborn/applications', headers => \%post_form,
                body => form('fields.name' => '', 'fields.phone' => '12<b>',
                             'materials.id_card' => '',
                             idempotency_key => $key));
is($res->{status}, 422, 'a form with mistakes: 422');
$page = decode_utf8($res->{content});
like($res->{headers}{'content-type'}, qr{^text/html}, 'the form again');
my @listed = $page =~ /<li><a href="#in-([a-z_]+)">/g;
is_deeply(\@listed, [qw(name phone birth_cert id_card)],
          'every problem listed at once, in the form\'s order');
like($page, qr{<p class="error" id="err-name">请填写此项</p>}, 'inline, next to the field');
like($page, qr{name="fields\.phone" value="12&lt;b&gt;" pattern=[^>]+aria-invalid="true"},
     'the value given kept, escaped, and marked invalid');
like($page, qr{name="elicense\.birth_cert" value="1">}, 'an unticked box stays unticked');
is(apps(), $before, 'nothing written');

$res = $t->post('/bundles/newborn/applications',
                headers => { %bearer,
                             'Content-Type' => 'application/x-www-form-urlencoded' },
                body => form('fields.name' => ''));
is($res->{status}, 422, 'the same form from an API client');
is_deeply($res->{json}{missing}, [qw(name birth_cert id_card)], 'answered in JSON');

$res = $t->post('/bundles/newborn/applications', headers => \%post_form,
                body => 'fields.name=%zz');
is($res->{status}, 400, 'a malformed form: 400');
like(decode_utf8($res->{content}), qr/<h1>提交的内容无法识别<\/h1>/,
     'an error page in plain Chinese');
is(apps(), $before, 'nothing written');

my $good_form = form('fields.name' => '张小宝', 'fields.phone' => '13800000000',
                     'elicense.birth_cert' => '1', 'materials.id_card' => 'ref-77',
                     idempotency_key => $key);
$res = $t->post('/bundles/newborn/applications', headers => \%post_form,
                body => $good_form);
is($res->{status}, 201, 'the corrected form: 201');
$page = decode_utf8($res->{content});
my ($fid) = $page =~ m{<dd class="big" id="app-id">(NB\d{14})</dd>};
ok($fid, 'the receipt shows the application id');
like($page, qr{<dd class="big" id="query-code">[2-9A-Z]{8}</dd>}, 'and the query code');
like($page, qr{href="/progress/$fid"}, 'and leads to the progress page');
like($page, qr/接下来会怎样/, 'and says what happens next');
like($page, qr{<td>出生医学证明</td><td>卫生健康委</td>}, 'steps named, with the department');
is($res->{headers}{location}, "/progress/$fid", 'Location as for API clients');
is(apps(), $before + 1, 'one application');
my $stored = decode_json($t->redis_cmd('HGET', "gov:app:$fid", 'doc'));
is_deeply([ $stored->{fields}{name}, $stored->{materials}{birth_cert},
            $stored->{materials}{id_card} ], [ '张小宝', 'elicense', 'ref-77' ],
          'stored as the JSON API would store it');

$res = $t->post('/bundles/newborn/applications', headers => \%post_form,
                body => $good_form);
is($res->{status}, 201, 'the same form sent again (reload, double click)');
like(decode_utf8($res->{content}), qr{id="app-id">$fid<}, 'the same application');
is(apps(), $before + 1, 'nothing new');

# --- a failed login, to a browser ------------------------------------------------

my $expired = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                        sub => '110101199001011234', ttl => -3600);
$res = $t->get("/auth/login?token=$expired&return_to=%2Fbundles%2F",
               headers => \%html);
is($res->{status}, 401, 'an expired token at login: 401');
$page = decode_utf8($res->{content});
like($page, qr/<h1>登录没有成功<\/h1>/, 'a page that says the login failed');
like($page, qr/登录凭证已经过期/, 'and why, in plain words');
$res = $t->get('/auth/login', headers => \%html);
is($res->{status}, 401, 'no token: 401, not a redirect back to the login URL');
like(decode_utf8($res->{content}), qr/没有收到登录凭证/, 'explained');
$res = $t->get("/auth/login?token=$expired");
like($res->{content}, qr/"reason":"expired"/, 'an API client gets the JSON reason');

# --- error pages ----------------------------------------------------------------

$res = $t->get('/progress/NB20990101999999', headers => { %html, %bearer });
is($res->{status}, 404, 'an unknown application: 404');
like(decode_utf8($res->{content}), qr/<h1>没有找到<\/h1>.*办件编号/s,
     'says so in plain Chinese');
$res = $t->get('/bundles/nope', headers => \%html);
like(decode_utf8($res->{content}), qr/<h1>没有这个事项<\/h1>/, 'an unknown bundle');
$res = $t->get('/bundles/nope');
is($res->{json}{error}, 'unknown_bundle', 'API clients still get JSON errors');

# --- rating by form -----------------------------------------------------------------

sub cb {
    my ($app, $item, $state) = @_;
    return $t->callback($app, $item, { state => $state });
}

$res = $t->get("/progress/$fid", headers => { %html, %bearer });
unlike(decode_utf8($res->{content}), qr{/rating"}, 'no rating form while in progress');

is(cb($fid, 'nhc', $_)->{status}, 204, "nhc $_") for qw(accepted approved);

$res = $t->get("/progress/$fid", headers => { %html, %bearer });
$page = decode_utf8($res->{content});
like($page, qr{<form method="post" action="/progress/$fid/rating"}, 'the rating form once done');
like($page, qr{<input type="radio" name="score" value="5" required> 5 分 非常满意}, 'five scores, labelled');

$res = $t->get("/progress/$fid?code=WRONG", headers => \%html);
unlike(decode_utf8($res->{content}), qr{/rating"}, 'no rating form for a query-code reader');

my %rate = (%html, %bearer, 'Content-Type' => 'application/x-www-form-urlencoded');
$res = $t->post("/progress/$fid/rating", headers => \%rate, body => 'comment=x');
is($res->{status}, 422, 'no score chosen: 422');
like(decode_utf8($res->{content}), qr/<h1>请选择评价分数<\/h1>/, 'the page says what to do');

$res = $t->post("/progress/$fid/rating", headers => \%rate,
                body => form(score => 4, comment => '办得很快 <谢谢>'));
is($res->{status}, 303, 'rated: 303');
is($res->{headers}{location}, "/progress/$fid", 'back to the progress page');

$res = $t->get("/progress/$fid", headers => { %html, %bearer });
$page = decode_utf8($res->{content});
like($page, qr{id="rated">您的评价：4 分}, 'the page shows the rating');
unlike($page, qr{/rating"}, 'and no form any more');
is($t->get("/progress/$fid", headers => \%bearer)->{json}{rating}{comment},
   '办得很快 <谢谢>', 'the comment stored as text');

$res = $t->post("/progress/$fid/rating", headers => \%rate, body => 'score=5');
is($res->{status}, 409, 'a second rating: 409');
like(decode_utf8($res->{content}), qr/<h1>您已经评价过了<\/h1>/, 'explained');

# --- the text-size switch (适老化), without JavaScript -------------------------

$res = $t->get('/bundles/', headers => \%html);
$page = decode_utf8($res->{content});
like($page, qr/<nav class="textsize" aria-label="字号">/, 'every page has the text-size switch');
like($page, qr{<a href="/text-size\?size=xl&amp;return_to=/bundles/">特大</a>},
     '... whose links come back to the page');
like($page, qr{size=m&amp;return_to=/bundles/" aria-current="true">标准</a>},
     '... the standard size marked as chosen');
like($page, qr/<html lang="zh-CN">/, '... and no size class yet');

$res = $t->get('/text-size?size=xl&return_to=%2Fbundles%2Fnewborn');
is($res->{status}, 303, 'choosing a size: 303');
is($res->{headers}{location}, '/bundles/newborn', '... back to the page');
like($res->{headers}{'set-cookie'},
     qr/^GOVTEXT=xl; Path=\/; Max-Age=31536000; SameSite=Lax/,
     '... the size kept in a cookie for a year');

$res = $t->get('/bundles/newborn', headers => { %html, Cookie => 'GOVTEXT=xl' });
$page = decode_utf8($res->{content});
like($page, qr/<html lang="zh-CN" class="text-xl">/, 'the page drawn extra large');
like($page, qr/html\.text-xl \{ font-size: 28px; \}/, '... 28px');
like($page, qr{size=xl&amp;return_to=/bundles/newborn" aria-current="true">特大</a>},
     '... and says so');
like(decode_utf8($t->get('/bundles/', headers => { %html, Cookie => 'GOVTEXT=l' })
                   ->{content}),
     qr/<html lang="zh-CN" class="text-l">/, 'large: 24px');
like(decode_utf8($t->get('/bundles/', headers => { %html, Cookie => 'GOVTEXT=huge' })
                   ->{content}),
     qr/<html lang="zh-CN">/, 'a cookie of no known size: the standard size');

$res = $t->get('/text-size?size=m&return_to=%2Fbundles%2F');
like($res->{headers}{'set-cookie'}, qr/^GOVTEXT=; Path=\/; Max-Age=0/,
     'the standard size removes the cookie');
is($t->get('/text-size?size=xl&return_to=https%3A%2F%2Fevil.example%2F')
     ->{headers}{location}, '/', 'a foreign return_to goes home instead');
is($t->get('/text-size?size=xl&return_to=%2F%2Fevil.example%2F')
     ->{headers}{location}, '/', '... so does a protocol-relative one');
is($t->get('/text-size?size=gigantic')->{status}, 400, 'an unknown size: 400');
is($t->post('/text-size?size=l', body => '')->{status}, 405, 'a POST: 405');

# --- Redis down: the page says to try again, with Retry-After ------------------

$t->stop_redis;
$res = $t->post('/bundles/newborn/applications', headers => \%post_form,
                body => form('fields.name' => 'x', 'elicense.birth_cert' => 1,
                             'materials.id_card' => 'r'));
is($res->{status}, 503, 'Redis down: 503');
is($res->{headers}{'retry-after'}, '1', 'with Retry-After');
like(decode_utf8($res->{content}), qr/<h1>系统繁忙<\/h1>.*重新提交/s,
     'the page says the submission did not go through');

$t->done;
done_testing();
