#!/usr/bin/perl

# Materials uploaded (CONTRACT section 8) and the cross-site rule of
# section 3: every status code of POST /uploads/, types from content only,
# the same bytes twice, ownership, signed links, what is served, a client
# that stops mid-body, Redis down, a full store, the sweeper, applications
# naming uploads, and cross-site POSTs of every handler that changes state.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex hmac_sha256_hex);
use IO::Socket::INET;
use File::Find;
use Encode qw(decode_utf8);
use GovTest;

my $t = GovTest->new;
$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);

my $link_secret = 'link-secret-0123456789abcdef0123456789';
my $dept_secret = 'department-secret-0123456789';
$t->write_file('conf/link.secret', "$link_secret\n");
$t->write_file('conf/dept.secret', "$dept_secret\n");
my $store = $t->prefix . '/store';
mkdir $store or die "mkdir $store: $!\n";

$t->backend(sub {
    return { status => 200, body => encode_json({ receipt => 'R-1' }) };
}, name => 'dept');

my $http = <<'EOF';
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_session_cookie GOVSID insecure;
    gov_upload_store %%PREFIX%%/store max_size=64k keep_unused=8s;
    gov_upload_link_secret_file %%PREFIX%%/conf/link.secret;
    gov_upload_link_ttl 1h;
    gov_trusted_origin https://portal.example.gov.cn;
    gov_material photo "照片";
    gov_material id_card "身份证" elicense;
    gov_field name "姓名";
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend /internal/dept; callback_secret_file dept.secret;
                   materials photo id_card; fields name; time_limit 3; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc;
                         time_limit 10; }
EOF

my $server = <<'EOF';
    location = /auth/login { gov_login; }
    location = /auth/logout { gov_logout; }
    location /uploads/ { client_max_body_size 1m; gov_upload; }
    location /bundles/ { gov_bundles; }
    location /progress/ { gov_progress; }
    location = /gov/status { gov_status; }
    location /callback/ { gov_callback; }
    location /internal/dept { internal;
                              proxy_pass http://127.0.0.1:%%BACKEND:dept%%/s; }
EOF

$t->write_conf(http => $http, server => $server);
$t->start_nginx;

my %tok = map { $_ => $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                                sub => $_, name => "citizen $_") }
          qw(110101199001011234 310101198505052345);
my ($zhang, $li) = @tok{qw(110101199001011234 310101198505052345)};
my $agent_of_zhang = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                               sub => '110101199001011234', act => 'AGENT-9');

sub auth { ('Authorization' => "Bearer $_[0]") }

sub upload {
    my ($body, %o) = @_;
    return $t->post('/uploads/', body => $body,
                    headers => { ($o{token} ? auth($o{token}) : ()),
                                 'Content-Type' => $o{type}
                                     // 'application/octet-stream',
                                 %{ $o{headers} || {} } });
}

sub multipart {
    my ($boundary, @parts) = @_;
    my $body = '';
    while (my ($disp, $data) = splice @parts, 0, 2) {
        utf8::encode($data) if utf8::is_utf8($data);
        $body .= "--$boundary\r\nContent-Disposition: form-data; $disp\r\n"
               . "\r\n$data\r\n";
    }
    return $body . "--$boundary--\r\n";
}

# files of the store, and what waits in its temporary directory
sub stored {
    my @f;
    find(sub { push @f, $_ if -f $_ && $File::Find::dir !~ m{/\.tmp} },
         $store);
    return sort @f;
}

sub temps { my @t = glob("$store/.tmp/*"); return scalar @t }

my $pdf = "%PDF-1.4\n" . ("pdf body " x 200) . "\n%%EOF\n";
my $jpeg = "\xff\xd8\xff\xe0\x00\x10JFIF\x00" . ("j" x 3000) . "\xff\xd9";
my $png = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" . ("p" x 500);

# an OFD package as GB/T 33190 lays it out: a ZIP, OFD.xml at its root
sub zip {
    my (@names) = @_;
    my ($local, $central) = ('', '');
    for my $n (@names) {
        my $data = "<ofd:OFD/>";
        my $off = length $local;
        $local .= pack('VvvvvvVVVvv', 0x04034b50, 20, 0, 0, 0, 0, 0,
                       length $data, length $data, length $n, 0) . $n . $data;
        $central .= pack('VvvvvvvVVVvvvvvVV', 0x02014b50, 20, 20, 0, 0, 0, 0,
                         0, length $data, length $data, length $n, 0, 0, 0,
                         0, 0, $off) . $n;
    }
    return $local . $central
         . pack('VvvvvVVv', 0x06054b50, 0, 0, scalar @names, scalar @names,
                length $central, length $local, 0);
}

# --- storing ------------------------------------------------------------------

my $res = upload($pdf, token => $zhang);
is($res->{status}, 201, 'a PDF as the body: 201');
my $hex = sha256_hex($pdf);
is_deeply([ @{ $res->{json} }{qw(ref type size sha256)} ],
          [ "upload:$hex", 'pdf', length $pdf, $hex ],
          'ref, type, size and sha256 of the bytes');
ok(-f "$store/" . substr($hex, 0, 2) . '/' . substr($hex, 2, 2) . "/$hex",
   'stored as STORE/xx/yy/HEX');
is(temps(), 0, 'nothing left in the temporary directory');

$res = upload($pdf, token => $zhang, type => 'image/png');
is($res->{json}{ref}, "upload:$hex", 'the same bytes again: the same ref, '
   . 'whatever the declared type');

$res = upload(multipart('XyZ', 'name="note"', 'ignored',
                        'name="file"; filename="photo.jpg"', $jpeg),
              token => $zhang, type => 'multipart/form-data; boundary=XyZ');
is($res->{status}, 201, 'a JPEG in a multipart form');
is($res->{json}{type}, 'jpeg', 'typed from its bytes');
is($res->{json}{name}, 'photo.jpg', 'with the name it was sent under');
my $jpeg_hex = sha256_hex($jpeg);

$res = upload(multipart('b', "name=\"file\"; filename*=UTF-8''%E7%85%A7%E7%89%87.png",
                        $png),
              token => $agent_of_zhang, type => 'multipart/form-data; boundary=b');
is($res->{status}, 201, 'a PNG by an agent, filename* in UTF-8');
is($res->{json}{name}, '照片.png', 'its UTF-8 name');
my $png_hex = sha256_hex($png);

my $ofd = zip('Doc_0/Document.xml', 'OFD.xml');
$res = upload($ofd, token => $zhang);
is($res->{status}, 201, 'an OFD package built by the test');
is($res->{json}{type}, 'ofd', 'typed ofd from its central directory');

$res = upload(zip('Doc_0/OFD.xml', 'x.txt'), token => $zhang);
is($res->{status}, 415, 'a ZIP without OFD.xml at its root: 415');
is($res->{json}{error}, 'unsupported_type', 'unsupported_type');

my $before = join ',', stored();

$res = upload("<!doctype html><script>alert(1)</script>", token => $zhang,
              type => 'application/pdf');
is($res->{status}, 415, 'HTML declared application/pdf: 415');
$res = upload(multipart('q', 'name="file"; filename="a.pdf"',
                        "<html><body>pdf?</body></html>"),
              token => $zhang, type => 'multipart/form-data; boundary=q');
is($res->{status}, 415, 'HTML named .pdf in a form: 415');

$res = upload('', token => $zhang);
is($res->{status}, 422, 'an empty body: 422');
is($res->{json}{error}, 'empty', 'empty');
$res = upload(multipart('e', 'name="file"; filename="x.pdf"', ''),
              token => $zhang, type => 'multipart/form-data; boundary=e');
is($res->{status}, 422, 'an empty file in a form: 422');

$res = upload('%PDF-1.4' . ('x' x (70 * 1024)), token => $zhang);
is($res->{status}, 413, 'over max_size: 413');
is($res->{json}{error}, 'too_large', 'too_large');

# chunked, so only the streaming count can tell
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port);
my $chunk = '%PDF-1.4' . ('c' x 8000);
print $s "POST /uploads/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
       . "Authorization: Bearer $zhang\r\nTransfer-Encoding: chunked\r\n\r\n";
print $s sprintf("%x\r\n%s\r\n", length $chunk, $chunk) for 1 .. 10;
print $s "0\r\n\r\n";
my $raw = do { local $/; <$s> };
like($raw, qr{^HTTP/1.1 413 .*"too_large"}s,
     'over max_size, chunked: 413 in JSON');

$res = upload(multipart('m', 'name="file"; filename="a.pdf"', $pdf)
              . "garbage", token => $zhang,
              type => 'multipart/form-data; boundary=zzz');
is($res->{status}, 400, 'a form whose boundary never comes: 400');
is($res->{json}{error}, 'malformed_multipart', 'malformed_multipart');

$res = upload(multipart('m', 'name="other"; filename="a.pdf"', $pdf),
              token => $zhang, type => 'multipart/form-data; boundary=m');
is($res->{status}, 422, 'a file part not named "file": 422');

$res = upload($pdf . 'x');
is($res->{status}, 401, 'no identity: 401');

is(join(',', stored()), $before, 'nothing refused was stored');
is(temps(), 0, 'and no temporary file is left');

# --- the boundary split across buffers ----------------------------------------

my $split = multipart('SPLIT', 'name="file"; filename="s.pdf"', "$pdf-split");
my $head = "POST /uploads/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
         . "Authorization: Bearer $zhang\r\n"
         . "Content-Type: multipart/form-data; boundary=SPLIT\r\n"
         . "Content-Length: " . length($split) . "\r\n\r\n";
my $at = index($split, "\r\n--SPLIT--");
my $bad = 0;
for my $cut ($at - 1 .. $at + 11) {
    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port);
    $s->autoflush(1);
    print $s $head . substr($split, 0, $cut);
    select undef, undef, undef, 0.05;
    print $s substr($split, $cut);
    $raw = do { local $/; <$s> };
    $bad++ unless $raw =~ m{^HTTP/1.1 201} && $raw =~ /\Q@{[ sha256_hex("$pdf-split") ]}\E/;
}
is($bad, 0, 'the close delimiter split at every position across reads');

# --- a client that stops mid-body ---------------------------------------------

$before = join ',', stored();
$s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port);
$s->autoflush(1);
print $s "POST /uploads/ HTTP/1.1\r\nHost: localhost\r\n"
       . "Authorization: Bearer $zhang\r\nContent-Length: 60000\r\n\r\n"
       . '%PDF-1.4' . ('s' x 30000);
select undef, undef, undef, 0.3;
ok(temps() >= 1, 'a body on its way is in a temporary file');
close $s;
$t->wait_for(sub { temps() == 0 }, 5);
is(temps(), 0, 'a client that stops mid-upload leaves no temporary file');
is(join(',', stored()), $before, 'and no file in the store');

# --- serving ------------------------------------------------------------------

my $poly = "%PDF-1.4\n<html><script>alert(document.cookie)</script></html>";
$res = upload($poly, token => $zhang);
is($res->{json}{type}, 'pdf', 'a PDF/HTML polyglot is a PDF');
my $poly_hex = sha256_hex($poly);

$res = $t->get("/uploads/$poly_hex", headers => { auth($zhang) });
is($res->{status}, 200, 'the owner gets the file');
is($res->{content}, $poly, 'byte for byte');
is($res->{headers}{'content-type'}, 'application/pdf', 'with its true type');
is($res->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff');
like($res->{headers}{'content-disposition'}, qr/^attachment; filename="$poly_hex\.pdf"$/,
     'as an attachment');
like($res->{headers}{'content-security-policy'} // '', qr/sandbox/,
     'in a sandbox should anything render it');

$res = $t->get("/uploads/$png_hex", headers => { auth($zhang) });
is($res->{status}, 200, "the citizen gets the file their agent uploaded");
is($res->{headers}{'content-type'}, 'image/png', 'image/png');

is($t->get("/uploads/$poly_hex", headers => { auth($li) })->{status}, 404,
   "another citizen: 404");
is($t->get("/uploads/" . ('0' x 64), headers => { auth($zhang) })->{status},
   404, 'an unknown upload: 404');
is($t->get("/uploads/etc%2Fpasswd", headers => { auth($zhang) })->{status},
   404, 'not a hex name: 404');
is($t->get("/uploads/" . uc($poly_hex), headers => { auth($zhang) })->{status},
   404, 'upper-case hex is not a name either: 404');
is($t->get("/uploads/$poly_hex")->{status}, 401, 'no identity: 401');

my $exp = time + 600;
my $sig = hmac_sha256_hex("$poly_hex.$exp", $link_secret);
$res = $t->get("/uploads/$poly_hex?expires=$exp&sig=$sig");
is($res->{status}, 200, 'a department with a signed link gets it');
is($res->{headers}{'content-type'}, 'application/pdf', 'typed');
(my $tampered = $sig) =~ s/^(.)/$1 eq 'a' ? 'b' : 'a'/e;
is($t->get("/uploads/$poly_hex?expires=$exp&sig=$tampered")->{status}, 404,
   'a tampered signature: 404');
is($t->get("/uploads/$poly_hex?expires=" . ($exp + 1) . "&sig=$sig")->{status},
   404, 'a changed expiry: 404');
is($t->get("/uploads/$png_hex?expires=$exp&sig=$sig")->{status}, 404,
   "another file's signature: 404");
my $old = time - 10;
$res = $t->get("/uploads/$poly_hex?expires=$old&sig="
               . hmac_sha256_hex("$poly_hex.$old", $link_secret));
is($res->{status}, 404, 'an expired link: 404');
is($res->{json}{error}, 'link_expired', 'saying it expired');

# --- applications naming uploads ----------------------------------------------

sub apply {
    my ($token, $materials, %o) = @_;
    return $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => { name => '张三' },
                                          materials => $materials }),
                    headers => { 'Content-Type' => 'application/json',
                                 auth($token), %{ $o{headers} || {} } });
}

$res = apply($li, { photo => "upload:$jpeg_hex", id_card => 'elicense' });
is($res->{status}, 422, "another citizen's upload in an application: 422");
is_deeply($res->{json}{invalid}, [ { id => 'photo', reason => 'unknown_upload' } ],
          'unknown_upload');
$res = apply($zhang, { photo => 'upload:' . ('1' x 64), id_card => 'elicense' });
is_deeply($res->{json}{invalid}, [ { id => 'photo', reason => 'unknown_upload' } ],
          'an unknown upload: the same answer');
$res = apply($zhang, { photo => 'upload:' . ('1' x 64) });
is($res->{status}, 422, 'with another problem too');
is_deeply([ $res->{json}{missing}, $res->{json}{invalid} ],
          [ [ 'id_card' ], [ { id => 'photo', reason => 'unknown_upload' } ] ],
          'every problem at once');

$res = apply($zhang, { photo => "upload:$jpeg_hex", id_card => 'elicense' });
is($res->{status}, 201, 'an application naming the upload')
    or diag($res->{content});
my $app_id = $res->{json}{id};
is($t->redis_cmd('HGET', "gov:up:$jpeg_hex", 'refs'), 1,
   'the upload is counted as referenced');

my ($sent) = grep { $_->{path} eq '/s' } $t->backend_requests('dept');
my $m = decode_json($sent->{body})->{materials}{photo};
is_deeply([ @$m{qw(ref type size sha256)} ],
          [ "upload:$jpeg_hex", 'jpeg', length $jpeg, $jpeg_hex ],
          'the department gets ref, type, size and sha256');
my ($uexp, $usig) = $m->{url} =~ m{^/uploads/$jpeg_hex\?expires=(\d+)&sig=([0-9a-f]{64})$};
ok($uexp && $uexp > time + 3000 && $uexp <= time + 3600 + 5,
   'a link expiring after gov_upload_link_ttl');
is($usig, hmac_sha256_hex("$jpeg_hex.$uexp", $link_secret),
   'signed with the link secret');
is($t->get($m->{url})->{content}, $jpeg, 'and the link works');
is(decode_json($sent->{body})->{materials}{id_card}, 'elicense',
   'an e-licence stays as it was');
ok(!exists decode_json($sent->{body})->{uploads}, 'no internal bookkeeping');

# --- the sweeper ----------------------------------------------------------------

my $lonely = "%PDF-1.4\nlonely " . time;
is(upload($lonely, token => $zhang)->{status}, 201, 'an upload nobody names');
my $lonely_hex = sha256_hex($lonely);
my $lonely_path = "$store/" . substr($lonely_hex, 0, 2) . '/'
                . substr($lonely_hex, 2, 2) . "/$lonely_hex";
ok(-f $lonely_path, 'stored');
# keep_unused=8s (long enough for the slowest pass, ASan over HTTP/2, to
# name its uploads first), swept at the sweeper's next turn after that
$t->wait_for(sub { !-f $lonely_path }, 25);
ok(!-f $lonely_path, 'swept after keep_unused');
is($t->redis_cmd('EXISTS', "gov:up:$lonely_hex"), 0, 'and forgotten in Redis');
is($t->get("/uploads/$lonely_hex", headers => { auth($zhang) })->{status},
   404, 'its owner gets 404');
ok(-f "$store/" . substr($jpeg_hex, 0, 2) . '/' . substr($jpeg_hex, 2, 2)
   . "/$jpeg_hex", 'what an application names is kept');
ok(($t->metrics->{gov_uploads_swept_total} // 0) >= 1, 'counted');

# --- cross-site requests --------------------------------------------------------

$res = $t->post('/auth/login', body => "token=$zhang",
                headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                             Origin => 'http://evil.example' });
is($res->{status}, 403, 'login POST from a foreign origin: 403');
is($res->{json}{error}, 'cross_site', 'cross_site');
ok(!$res->{headers}{'set-cookie'}, 'and no session');

$res = $t->post('/auth/login', body => "token=$zhang",
                headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                             Origin => $t->origin });
is($res->{status}, 200, 'login POST from the portal itself');
my ($sid) = ($res->{headers}{'set-cookie'} // '') =~ /^GOVSID=([^;]+)/;
ok($sid, 'a session');
my %cookie = (Cookie => "GOVSID=$sid");
my $evil = 'http://evil.example';

$before = join ',', stored();
my $fresh = "%PDF-1.4\ncross " . time;
$res = upload($fresh, headers => { %cookie, Origin => $evil });
is($res->{status}, 403, 'upload with the cookie from a foreign origin: 403');
$res = upload($fresh, headers => { %cookie, Referer => "$evil/page" });
is($res->{status}, 403, 'the same by Referer: 403');
is(join(',', stored()), $before, 'nothing stored');

$res = $t->post('/bundles/newborn/applications',
                body => encode_json({ fields => { name => '张三' },
                                      materials => { photo => "upload:$jpeg_hex",
                                                     id_card => 'elicense' } }),
                headers => { 'Content-Type' => 'application/json', %cookie,
                             Origin => $evil });
is($res->{status}, 403, 'submission (JSON) from a foreign origin: 403');
$res = $t->post('/bundles/newborn/applications',
                body => 'fields.name=%E5%BC%A0&elicense.id_card=on'
                        . "&materials.photo=upload%3A$jpeg_hex",
                headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                             %cookie, Origin => $evil });
is($res->{status}, 403, 'submission (form) from a foreign origin: 403');
$res = $t->post("/progress/$app_id/rating",
                body => encode_json({ score => 5 }),
                headers => { 'Content-Type' => 'application/json', %cookie,
                             Origin => $evil });
is($res->{status}, 403, 'rating from a foreign origin: 403');
is($t->redis_cmd('ZCARD', 'gov:user:110101199001011234'), 1,
   'no application was added');

$res = upload($fresh, headers => { %cookie, Origin => 'null' });
is($res->{status}, 403, 'an opaque origin ("null"): 403');
$res = upload($fresh, headers => { %cookie, Origin => 'null',
                                   'Sec-Fetch-Site' => 'cross-site' });
is($res->{status}, 403, '... sent cross-site by the browser\'s word: 403');
$res = upload("$fresh 0", headers => { %cookie, Origin => 'null',
                                       'Sec-Fetch-Site' => 'same-origin' });
is($res->{status}, 201,
   '"null" from a no-referrer page of the portal (Sec-Fetch-Site: same-origin): 201');
$res = upload($fresh, headers => { %cookie,
                                   Origin => $t->origin });
is($res->{status}, 201, 'the portal itself: 201');
$res = upload("$fresh 2", headers => { %cookie,
                                       Origin => 'https://portal.example.gov.cn' });
is($res->{status}, 201, 'a gov_trusted_origin: 201');
$res = upload("$fresh 3", headers => { %cookie,
                 Referer => 'https://portal.example.gov.cn.evil.example/x' });
is($res->{status}, 403, 'a Referer only starting like a trusted origin: 403');
$res = upload("$fresh 4", token => $zhang, headers => { Origin => $evil });
is($res->{status}, 201, 'a bearer token from anywhere: 201');

$res = $t->post('/auth/logout', headers => { %cookie, Origin => $evil });
is($res->{status}, 403, 'logout from a foreign origin: 403');
is($t->get("/uploads/$jpeg_hex", headers => { %cookie })->{status}, 200,
   'the session lives on');
$res = $t->post('/auth/logout', headers => { %cookie });
is($res->{status}, 204, 'logout without Origin (no browser page): 204');

# --- Redis down -----------------------------------------------------------------

$before = join ',', stored();
$t->stop_redis;
$res = upload("%PDF-1.4\nwhile Redis is down", token => $zhang);
is($res->{status}, 503, 'an upload while Redis is down: 503');
is(join(',', stored()), $before, 'and no file kept');
is(temps(), 0, 'nor a temporary one');
$t->start_redis;

$t->stop_nginx;
$t->check_logs;

# --- a full store -----------------------------------------------------------------

SKIP: {
    my $small = $t->prefix . '/small';
    mkdir $small;
    skip 'a small filesystem needs root and mount', 6
        unless $> == 0
               && system("mount -t tmpfs -o size=256k tmpfs $small 2>/dev/null") == 0;

    (my $h2 = $http) =~ s{%%PREFIX%%/store max_size=64k}{%%PREFIX%%/small max_size=200k};
    $t->write_conf(http => $h2, server => $server);
    $t->start_nginx;

    my $big = '%PDF-1.4' . ('1' x 150_000);
    is(upload($big, token => $zhang)->{status}, 201, 'a file that fits');
    $res = upload('%PDF-1.4' . ('2' x 150_000), token => $zhang);
    ok($res->{status} == 507 || $res->{status} == 503,
       "a file that does not fit: $res->{status}");
    is($res->{json}{error}, 'insufficient_storage', 'insufficient_storage');
    my @left = glob("$small/.tmp/*");
    is(scalar @left, 0, 'nothing half-stored');
    is(upload($pdf, token => $zhang)->{status}, 201, 'the worker is fine');

    $t->stop_nginx;
    $t->check_logs;
    system("umount $small");
}

# --- the application form posts its files ---------------------------------------

{
    (my $h3 = $http) =~ s{keep_unused=8s}{keep_unused=1h};
    $h3 .= "    gov_templates %%ROOT%%/templates;\n";
    $t->write_conf(http => $h3, server => $server);
    $t->start_nginx;

    my $page = $t->get('/bundles/newborn/apply',
                       headers => { auth($zhang), Accept => 'text/html' });
    like($page->{content}, qr/enctype="multipart\/form-data"/,
         'the form posts multipart/form-data');
    like($page->{content}, qr/<input type="file" id="in-photo" name="materials.photo"[^>]* required/,
         'a file input for a material that must be uploaded');
    like($page->{content}, qr/name="elicense.id_card".*<input type="file" id="in-id_card"/s,
         'and one beside the e-licence box');

    my $b = 'FormBoundary7MA4YWxk';
    my $html = { auth($zhang), Accept => 'text/html',
                 'Content-Type' => "multipart/form-data; boundary=$b" };
    my $photo = "\xff\xd8\xff\xe0form photo " . time;

    # a mistake: the name is missing, the photo is good, the ID card bad
    my $body = multipart($b, 'name="idempotency_key"', 'k1',
                         'name="fields.name"', '',
                         'name="materials.photo"; filename="baby.jpg"', $photo,
                         'name="materials.id_card"; filename="id.pdf"',
                         '<html>not a pdf</html>');
    $res = $t->post('/bundles/newborn/applications', body => $body,
                    headers => $html);
    $res->{content} = decode_utf8($res->{content});
    is($res->{status}, 422, 'a form with mistakes: 422');
    like($res->{content}, qr/已上传：baby\.jpg（\d+ 字节）/,
         'the stored photo is shown by name and size');
    my $photo_hex = sha256_hex($photo);
    like($res->{content}, qr/<input type="hidden" name="materials.photo" value="upload:$photo_hex">/,
         'and kept in the form');
    like($res->{content}, qr/只能上传 PDF、JPG、PNG 或 OFD 格式的文件/,
         'the refused file is explained at its material');
    like($res->{content}, qr/请填写此项/, 'and the missing name at its field');
    is($t->redis_cmd('HGET', "gov:up:$photo_hex", 'o:110101199001011234'),
       'baby.jpg', 'the photo is the citizen\'s upload');

    # again, with the name, the photo kept, the e-licence ticked
    $body = multipart($b, 'name="idempotency_key"', 'k2',
                      'name="fields.name"', '张三',
                      'name="materials.photo"', "upload:$photo_hex",
                      'name="materials.photo"; filename=""', '',
                      'name="elicense.id_card"', '1',
                      'name="materials.id_card"; filename=""', '');
    $res = $t->post('/bundles/newborn/applications', body => $body,
                    headers => $html);
    $res->{content} = decode_utf8($res->{content});
    is($res->{status}, 201, 'the form again, nothing asked twice: 201');
    like($res->{content}, qr/照片：已上传 baby\.jpg（\d+ 字节）/,
         'the receipt lists the photo received');
    like($res->{content}, qr/身份证：电子证照/, 'and the e-licence');
    is($t->redis_cmd('HGET', "gov:up:$photo_hex", 'refs'), 1,
       'the photo is now referenced');

    # one POST that stores a new file and submits, for an API client
    my $pdf2 = "%PDF-1.7\nform pdf " . time;
    $body = multipart($b, 'name="fields.name"', '张三',
                      'name="materials.photo"; filename="scan.pdf"', $pdf2,
                      'name="materials.id_card"', 'elicense');
    $res = $t->post('/bundles/newborn/applications', body => $body,
                    headers => { auth($zhang),
                                 'Content-Type' => "multipart/form-data; boundary=$b" });
    is($res->{status}, 201, 'stores the file and submits in one POST');
    my ($last) = reverse grep { $_->{path} eq '/s' } $t->backend_requests('dept');
    is(decode_json($last->{body})->{materials}{photo}{sha256}, sha256_hex($pdf2),
       'and the department gets the file');

    $body = multipart($b, 'name="fields.name"', '张三',
                      'name="other"; filename="x.pdf"', $pdf2);
    $res = $t->post('/bundles/newborn/applications', body => $body,
                    headers => { auth($zhang),
                                 'Content-Type' => "multipart/form-data; boundary=$b" });
    is($res->{status}, 422, 'a file for no material: 422');

    $res = $t->post('/auth/login', body => "token=$zhang", headers => {
                        'Content-Type' => 'application/x-www-form-urlencoded' });
    my ($sid2) = ($res->{headers}{'set-cookie'} // '') =~ /^GOVSID=([^;]+)/;
    $res = $t->post('/bundles/newborn/applications', body => $body,
                    headers => { Cookie => "GOVSID=$sid2",
                                 'Content-Type' => "multipart/form-data; boundary=$b",
                                 Origin => $evil });
    is($res->{status}, 403, 'the multipart form from a foreign origin: 403');


    # --- a correction answered with a new photo, from the page's form ---------

    $res = apply($zhang, { photo => "upload:$photo_hex", id_card => 'elicense' });
    my $cid = $res->{json}{id};
    my $cn = 0;
    my $cb = sub {
        my ($doc) = @_;
        my $ts = time;
        my $body = encode_json({ %$doc, seq => ++$cn });
        return $t->post("/callback/$cid/nhc", body => $body, headers => {
            'X-Gov-Timestamp' => $ts,
            'X-Gov-Signature' => GovTest::sig_v2($dept_secret, $ts, 'POST', "/callback/$cid/nhc", $body) });
    };
    is($cb->({ state => 'accepted' })->{status}, 204, 'accepted');
    is($cb->({ state => 'correction',
               request => { materials => [ 'photo' ], fields => [ 'name' ],
                            note => '照片不清晰' } })->{status}, 204,
       'the department asks for a clearer photo and the name');

    $page = decode_utf8($t->get("/progress/$cid",
                                headers => { auth($zhang), Accept => 'text/html' })->{content});
    like($page, qr{<form method="post" action="/progress/$cid/steps/nhc/correction" accept-charset="utf-8" enctype="multipart/form-data"}s,
         'the progress page has a form for the answer');
    like($page, qr{name="fields.name" value="[^"]+" required}, 'a box for the name');
    like($page, qr{<input type="file" id="c-nhc-photo" name="materials.photo"}, 'and a file input for the photo');
    unlike($page, qr{name="materials.id_card"}, 'nothing that was not asked');

    my $clear = "\xff\xd8\xff\xe0clearer photo " . time;
    $body = multipart($b, 'name="fields.name"', '王大宝',
                      'name="materials.photo"; filename="clear.jpg"', "<html>x</html>");
    $res = $t->post("/progress/$cid/steps/nhc/correction", body => $body,
                    headers => { auth($zhang),
                                 'Content-Type' => "multipart/form-data; boundary=$b" });
    is($res->{status}, 422, 'an answer with an HTML "photo": 422');
    is($res->{json}{invalid}[0]{reason}, 'unsupported_type', 'unsupported_type');

    $body = multipart($b, 'name="fields.name"', '王大宝',
                      'name="materials.photo"; filename="clear.jpg"', $clear);
    $res = $t->post("/progress/$cid/steps/nhc/correction", body => $body,
                    headers => { auth($zhang), Accept => 'text/html',
                                 'Content-Type' => "multipart/form-data; boundary=$b" });
    is($res->{status}, 303, 'answered with the new photo: 303 back to the page');
    my $clear_hex = sha256_hex($clear);
    is($t->redis_cmd('HGET', "gov:up:$clear_hex", 'refs'), 1,
       'the new photo is stored and referenced');
    $page = decode_utf8($t->get("/progress/$cid",
                                headers => { auth($zhang), Accept => 'text/html' })->{content});
    like($page, qr/已提交补正，等待部门确认/, 'the page says it is on its way');

    $t->wait_for(sub { grep { ($_->{headers}{'x-gov-correction'} // '') eq '1'
                              && ($_->{headers}{'x-gov-application'} // '') eq $cid }
                       $t->backend_requests('dept') }, 10);
    my ($corr) = grep { ($_->{headers}{'x-gov-correction'} // '') eq '1'
                        && ($_->{headers}{'x-gov-application'} // '') eq $cid }
                 $t->backend_requests('dept');
    ok($corr, 'the department gets the answer');
    my $cm = decode_json($corr->{body});
    is($cm->{fields}{name}, '王大宝', 'the corrected name');
    is($cm->{materials}{photo}{sha256}, $clear_hex, 'and the new photo');
    like($cm->{materials}{photo}{url}, qr{^/uploads/$clear_hex\?expires=\d+&sig=[0-9a-f]{64}$},
         'with its signed link');
    $t->wait_for(sub { $t->get("/progress/$cid", headers => { auth($zhang) })
                         ->{json}{steps}[0]{state} eq 'received' }, 10);
    is($t->get("/progress/$cid", headers => { auth($zhang) })->{json}{steps}[0]{state},
       'received', 'and the step moves on');

    # a request in words only: the page's form has no field, and a browser
    # posts a multipart body of no part at all
    is($cb->({ state => 'accepted' })->{status}, 204, 'accepted');
    is($cb->({ state => 'correction',
               request => { note => '请到窗口核验原件' } })->{status}, 204,
       'a correction asked in words only');
    $res = $t->post("/progress/$cid/steps/nhc/correction", body => "--$b--\r\n",
                    headers => { auth($zhang), Accept => 'text/html',
                                 'Content-Type' => "multipart/form-data; boundary=$b" });
    is($res->{status}, 303, 'answered with the empty form a browser sends: 303');

    $t->stop_nginx;
    $t->check_logs;
}

# --- configuration mistakes -------------------------------------------------------

sub conf_error {
    my ($http_extra, $server_extra) = @_;
    $t->write_conf(http => $http_extra, server => $server_extra // '');
    my ($status, $out) = $t->test_conf;
    return $status ? $out : '';
}

my $base = "gov_redis 127.0.0.1:%%REDIS_PORT%%;\n"
         . "gov_upload_link_secret_file %%PREFIX%%/conf/link.secret;\n";

like(conf_error("${base}gov_upload_store %%PREFIX%%/nowhere;"),
     qr/gov_upload_store ".*nowhere" in .*nginx.conf:\d+ is not a directory/,
     'nginx -t: a store that is not there');
like(conf_error("${base}gov_upload_store %%PREFIX%%/store types=pdf,gif;"),
     qr/unknown type "gif".*nginx.conf:\d+/, 'nginx -t: an unknown type');
like(conf_error("${base}gov_upload_store %%PREFIX%%/store max_size=lots;"),
     qr/invalid size in "max_size=lots".*nginx.conf:\d+/,
     'nginx -t: a bad size');
like(conf_error("${base}gov_upload_store %%PREFIX%%/store keep_unused=0;"),
     qr/invalid time in "keep_unused=0"/, 'nginx -t: a bad keep_unused');
like(conf_error("gov_redis 127.0.0.1:%%REDIS_PORT%%;\n"
                . "gov_upload_store %%PREFIX%%/store;"),
     qr/needs "gov_upload_link_secret_file"/,
     'nginx -t: a store without a link secret');
$t->write_file('conf/short.secret', "short\n");
like(conf_error("gov_upload_link_secret_file %%PREFIX%%/conf/short.secret;"),
     qr/at least 32 are needed.*nginx.conf:\d+/, 'nginx -t: a short secret');
like(conf_error("gov_redis 127.0.0.1:%%REDIS_PORT%%;",
                "location /uploads/ { gov_upload; }"),
     qr/"gov_upload" in .*nginx.conf:\d+ needs "gov_upload_store"/,
     'nginx -t: gov_upload without a store');
like(conf_error("gov_trusted_origin https://a.example/path;"),
     qr/"https:\/\/a.example\/path" is not an origin/,
     'nginx -t: a trusted origin with a path');

{
    # a store the workers cannot write: as root, workers of "user nobody"
    chmod 0700, $store;
    $t->write_conf(http => "${base}gov_upload_store %%PREFIX%%/store;");
    my $conf = $t->read_file('conf/nginx.conf');
    if ($> == 0) {
        $conf =~ s/^user root root;$/user nobody nogroup;/m;
    } else {
        chmod 0500, $store;
    }
    $t->write_file('conf/nginx.conf', $conf);
    my ($status, $out) = $t->test_conf;
    like($out, qr/gov_upload_store ".*store" in .*nginx.conf:\d+ is not writable by the worker user/,
         'nginx -t: a store the worker user cannot write');
    chmod 0700, $store;
}

$t->cleanup;
done_testing;
