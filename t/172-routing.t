#!/usr/bin/perl

# CONTRACT section 13, routing by field (跨省通办, 收受分离): "backend" and
# "status" with variables, $gov_field_NAME holding the application's
# fields during dispatch and refresh (a map sends an item to another
# region's gateway, in the same retry batch as others routed elsewhere);
# gov_region: the step records its region, its callbacks are taken with
# that region's secret only, the progress page says who handles it; a
# field routing nowhere stores nothing; nginx -t mistakes with file:line.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use Digest::SHA qw(hmac_sha256_hex);
use Time::HiRes qw(sleep);
use GovTest;

my $t = GovTest->new;
$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);

my %secret = (local => 'local-police-secret-0123456789',
              bj => 'beijing-gateway-secret-0123456789',
              tj => 'tianjin-gateway-secret-0123456789');
$t->write_file("conf/$_.secret", "$secret{$_}\n") for keys %secret;

# three gateways: each receipts what it is sent, answers its status URI
# from a file, and all fail while "down" exists
for my $gw (qw(local bj tj)) {
    $t->backend(sub {
        my ($req) = @_;
        return { status => 503 } if -e $t->prefix . '/down';
        if ($req->{method} eq 'GET') {
            my $s = $t->read_file("status-$gw.json");
            return $s ? { status => 200, body => $s } : { status => 404 };
        }
        my $app = decode_json($req->{body});
        return { status => 200,
                 body => encode_json({ receipt => uc($gw) . "-$app->{id}" }) };
    }, name => $gw);
}

$t->write_conf(http => <<'EOF', server => <<'EOF');
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_templates %%ROOT%%/templates;
    gov_field hukou_id "户籍地身份证号" "pattern=[0-9]{17}[0-9X]";
    gov_field name "姓名";
    gov_region bj "北京市" /internal/gw/bj/ callback_secret_file=bj.secret;
    gov_region tj "天津市" /internal/gw/tj/ callback_secret_file=tj.secret;
    map $gov_field_hukou_id $hukou_backend {
        ~^11    /internal/gw/bj/police;
        ~^12    /internal/gw/tj/police;
        ~^31    /internal/local/police;
        ~^45    http://elsewhere.example/;
        default "";
    }
    map $gov_field_hukou_id $hukou_status {
        ~^11    /internal/gw/bj/status;
        ~^12    /internal/gw/tj/status;
        default /internal/local/status;
    }
    gov_item transfer { name "户口迁移"; department "公安局";
                        backend $hukou_backend; status $hukou_status;
                        callback_secret_file local.secret;
                        fields hukou_id name; time_limit 5; }
    gov_item tax { name "税务登记变更"; department "税务局";
                   backend /internal/local/tax;
                   callback_secret_file local.secret;
                   fields name; time_limit 3; }
    gov_bundle move { name "迁户一件事"; code MV; items transfer tax;
                      time_limit 10; }
EOF
    location /bundles/ { gov_bundles; }
    location /progress/ { gov_progress; gov_progress_refresh 1s; }
    location /callback/ { gov_callback; }
    location /internal/gw/bj/ {
        internal;
        proxy_set_header X-Hukou $gov_field_hukou_id;
        proxy_pass http://127.0.0.1:%%BACKEND:bj%%/;
    }
    location /internal/gw/tj/ {
        internal;
        proxy_set_header X-Hukou $gov_field_hukou_id;
        proxy_pass http://127.0.0.1:%%BACKEND:tj%%/;
    }
    location /internal/local/ { internal;
                                proxy_pass http://127.0.0.1:%%BACKEND:local%%/; }
EOF
$t->start_nginx;

my %tok;

sub apply {
    my ($hukou, $who) = @_;
    $who //= '310101198505052345';
    $tok{$who} //= $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                             sub => $who);
    return $t->post('/bundles/move/applications',
                    body => encode_json({ fields => { hukou_id => $hukou,
                                                      name => '李四' } }),
                    headers => { 'Content-Type' => 'application/json',
                                 Authorization => "Bearer $tok{$who}" });
}

sub posted {
    my ($gw) = @_;
    return grep { $_->{method} eq 'POST' } $t->backend_requests($gw);
}

sub progress {
    my ($id, %h) = @_;
    return $t->get("/progress/$id",
                   headers => { Authorization =>
                                "Bearer $tok{'310101198505052345'}", %h });
}

sub step_of {
    my ($id, $item) = @_;
    my ($s) = grep { $_->{item} eq $item } @{ progress($id)->{json}{steps} };
    return $s;
}

my $n = 0;

sub callback {
    my ($id, $item, $key, $doc) = @_;
    my $ts = time;
    my $body = encode_json({ %$doc, seq => ++$n });
    return $t->post("/callback/$id/$item", body => $body, headers => {
        'X-Gov-Timestamp' => $ts,
        'X-Gov-Signature' => GovTest::sig_v2($secret{$key}, $ts, 'POST', "/callback/$id/$item", $body) });
}

# --- a Beijing hukou, submitted in Shanghai -----------------------------------

my $bj_id = '110101199001011234';
my $res = apply($bj_id);
is($res->{status}, 201, 'a Beijing hukou: 201');
my $bj = $res->{json}{id};
my %st = map { $_->{item} => $_ } @{ $res->{json}{steps} };
is($st{transfer}{receipt}, "BJ-$bj", '... the item routed to the Beijing gateway');
is($st{tax}{receipt}, "LOCAL-$bj", '... the unrouted item to its own backend');

my ($sent) = grep { decode_json($_->{body})->{id} eq $bj } posted('bj');
is($sent->{path}, '/police', '... at the URI the map chose');
is($sent->{headers}{'x-hukou'}, $bj_id,
   '... $gov_field_hukou_id usable inside the dispatch subrequest');
is($sent->{headers}{'x-gov-item'}, 'transfer', '... with X-Gov-Item');
ok(!grep({ decode_json($_->{body})->{id} eq $bj && $_->{path} eq '/police' }
         posted('local')),
   '... and never to the local police');

my $raw = decode_json($t->redis_cmd('HGET', "gov:steps:$bj", 'transfer'));
is($raw->{region}, 'bj', 'the step records its region');
ok(!exists decode_json($t->redis_cmd('HGET', "gov:steps:$bj", 'tax'))->{region},
   '... an unrouted step none');

my $s = step_of($bj, 'transfer');
is_deeply($s->{region}, { id => 'bj', name => '北京市' },
          'progress: "region" with its id and name');
ok(!exists step_of($bj, 'tax')->{region}, '... not on the local step');
my $page = progress($bj, Accept => 'text/html');
like(decode_utf8($page->{content}), qr/跨省通办：异地受理 → 北京市属地办理/,
     'the page says which region handles the step (异地受理 → 属地办理)');

# --- callbacks: the region's secret only --------------------------------------

$res = callback($bj, 'transfer', 'local', { state => 'accepted' });
is($res->{status}, 401, 'a routed step signed with the item\'s own secret: 401');
is($res->{json}{error}, 'bad_signature', '... bad_signature');
$res = callback($bj, 'transfer', 'tj', { state => 'accepted' });
is($res->{status}, 401, '... signed by another region: 401');
is(step_of($bj, 'transfer')->{state}, 'received', '... nothing changed');
$res = callback($bj, 'transfer', 'bj', { state => 'accepted' });
is($res->{status}, 204, 'signed by the Beijing gateway: 204');
is(step_of($bj, 'transfer')->{state}, 'accepted', '... the step moved');
$res = callback($bj, 'tax', 'bj', { state => 'accepted' });
is($res->{status}, 401, 'the gateway cannot sign for a local step: 401');
is(callback($bj, 'tax', 'local', { state => 'accepted' })->{status}, 204,
   '... its own department can');
like($t->error_log, qr/signed by " bj ", not by the region handling the step/,
     'the refusal is logged with who signed');

# --- a local hukou ------------------------------------------------------------

$res = apply('310101198505052345');
is($res->{status}, 201, 'a Shanghai hukou: 201');
my $sh = $res->{json}{id};
%st = map { $_->{item} => $_ } @{ $res->{json}{steps} };
is($st{transfer}{receipt}, "LOCAL-$sh", '... handled by the local police');
ok(!exists step_of($sh, 'transfer')->{region}, '... no region shown');
is(callback($sh, 'transfer', 'bj', { state => 'accepted' })->{status}, 401,
   '... a gateway\'s signature refused');
is(callback($sh, 'transfer', 'local', { state => 'accepted' })->{status}, 204,
   '... the item\'s secret taken');

# --- routed nowhere: nothing stored -------------------------------------------

my $before = $t->redis_cmd('DBSIZE');
for my $case ([ '440101199202023456', '""' ],
              [ '450101199202023456', '"http://elsewhere.example/"' ])
{
    $res = apply($case->[0]);
    is($res->{status}, 500, "a field the map routes to $case->[1]: 500");
    is($res->{json}{error}, 'no_route', '... no_route');
}
is($t->redis_cmd('DBSIZE'), $before, '... and nothing stored');
like($t->error_log,
     qr/the backend of item "transfer" \("\$hukou_backend"\) made "", not a location URI/,
     'the log names the item and what its backend made');

# --- one retry batch, each application to its own gateway ---------------------

$t->write_file('down', '');
my @ids;
for my $h ('110102199001011234', '120101199001011234', '110103199001011234',
           '120102199001011234')
{
    $res = apply($h);
    is($res->{status}, 201, "submitted while the gateways are down ($h)");
    push @ids, [ $res->{json}{id}, $h ];
}
unlink $t->prefix . '/down';

ok($t->wait_for(sub {
    !grep { step_of($_->[0], 'transfer')->{state} eq 'queued' } @ids
}, 20), 'the retry queue delivers them all');
for my $a (@ids) {
    my ($id, $h) = @$a;
    my $gw = $h =~ /^11/ ? 'bj' : 'tj';
    my $other = $gw eq 'bj' ? 'tj' : 'bj';
    my @got = grep { decode_json($_->{body})->{id} eq $id
                     && $_->{path} eq '/police' } posted($gw);
    ok(@got >= 1 && !grep({ $_->{headers}{'x-hukou'} ne $h } @got),
       "$id reached the $gw gateway with its own field");
    ok(!grep({ decode_json($_->{body})->{id} eq $id && $_->{path} eq '/police' }
             posted($other)),
       "... never the $other gateway");
    is(step_of($id, 'transfer')->{region}{id}, $gw, "... region $gw");
}

# --- status URIs routed likewise ----------------------------------------------

$t->write_file('status-bj.json', '{"state":"reviewing","note":"审查"}');
$t->write_file('status-local.json', '{"state":"denied"}');
sleep 1.2;
ok($t->wait_for(sub { step_of($bj, 'transfer')->{state} eq 'reviewing' }, 10),
   'the Beijing status URI moves the routed step');
my @asked = grep { $_->{method} eq 'GET' } $t->backend_requests('bj');
like(join(' ', map { $_->{uri} } @asked), qr{^/status/BJ-$bj| /status/BJ-$bj},
     '... asked at the gateway\'s status URI with the receipt');
is($asked[0]{headers}{'x-hukou'}, $bj_id,
   '... $gov_field_hukou_id usable inside the refresh subrequest');
ok(!grep({ $_->{uri} =~ m{/status/.*$bj} }
         grep { $_->{method} eq 'GET' } $t->backend_requests('local')),
   '... the local status URI never asked about it');
isnt(step_of($bj, 'transfer')->{state}, 'denied', '... nor its answer taken');

$t->stop_nginx;
$t->check_logs;

# --- nginx -t -------------------------------------------------------------------

for my $case (
    [ 'gov_region bj "北京市" gw/ callback_secret_file=bj.secret;',
      qr/the prefix "gw\/" of region "bj" must be a URI prefix starting with "\/", without variables in \S+:\d+/ ],
    [ 'gov_region bj "北京市" /gw/$x callback_secret_file=bj.secret;',
      qr/the prefix "\/gw\/\$x" of region "bj"/ ],
    [ 'gov_region b.j "北京市" /gw/ callback_secret_file=bj.secret;',
      qr/invalid region id "b\.j"/ ],
    [ "gov_region bj \"北京市\" /gw/ callback_secret_file=bj.secret;\n    gov_region bj \"北京\" /gw2/ callback_secret_file=bj.secret;",
      qr/region "bj" or its prefix "\/gw2\/" is duplicate in \S+:\d+/ ],
    [ 'gov_region bj "北京市" /gw/ secret=bj.secret;',
      qr/region "bj" needs "callback_secret_file=PATH", not "secret=bj.secret"/ ],
    [ 'gov_region bj "北京市" /gw/ callback_secret_file=short.secret;',
      qr/callback secret "short.secret" is shorter than 16 bytes in \S+:\d+/ ],
    [ 'gov_region bj "北京市" /gw/ callback_secret_file=none.secret;',
      qr/cannot open "\S+none.secret"/ ],
    [ 'gov_region bj "北京市" /gw/;',
      qr/invalid number of arguments in "gov_region" directive in \S+:\d+/ ],
    [ "gov_item x { name \"x\"; department \"d\"; backend \$nope;\n      callback_secret_file bj.secret; time_limit 1; }",
      qr/unknown "nope" variable/ ],
    [ "gov_item x { name \"x\"; department \"d\"; backend internal/x;\n      callback_secret_file bj.secret; time_limit 1; }",
      qr/"backend" of item "x" must be a location URI starting with "\/" in \S+:\d+/ ])
{
    $t->write_file('conf/short.secret', "short\n");
    $t->write_conf(http => "    $case->[0]\n");
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: " . (split /\n/, $case->[0])[0]);
    like(decode_utf8($out), $case->[1], '... with a precise message');
}

$t->write_file('logs/error.log', '');
$t->done;
done_testing();
