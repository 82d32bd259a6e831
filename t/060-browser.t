#!/usr/bin/perl

# The citizen's journey in a real browser (Debian's headless Chromium,
# driven by playwright-core from npm: t/browser/journey.mjs), against the
# demo's own configuration: its bundles, its identity provider (logging in
# with OpenID Connect through conf/demo/idp.pl), its templates and
# its department backends (conf/demo/departments.pl), which accept, review
# and approve every step, pushing each state by signed callback.
#
# The journey runs twice: with JavaScript, and with JavaScript disabled.
# Screenshots are kept in build/screenshots/.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use utf8;
use Encode ();
use POSIX ();
use GovTest;

my $root = $GovTest::ROOT;
my $chromium = $ENV{CHROMIUM} || '/usr/bin/chromium';

ok(-x $chromium, "Chromium is installed ($chromium)")
    or BAIL_OUT('no Chromium: run make browser-deps');
ok(-d "$root/t/browser/node_modules/playwright-core",
   'playwright-core is installed')
    or BAIL_OUT('no playwright-core: run make browser-deps');

my $t = GovTest->new;
$t->start_redis;

# the demo's configuration files, where bundles.conf expects them
for my $f (qw(bundles.conf calendar demo)) {
    symlink "$root/conf/$f", "$t->{prefix}/conf/$f" or die "symlink $f: $!\n";
}

system("$root/conf/demo/login-page.sh", $t->token_tool,
       "$t->{prefix}/html/demo") == 0
    or die "login-page.sh failed\n";

my $dport = $t->free_port;
my $dpid = fork // die "fork: $!\n";
if ($dpid == 0) {
    POSIX::setpgid(0, 0);
    open STDOUT, '>', '/dev/null';
    open STDERR, '>>', "$t->{prefix}/logs/departments.err";
    { exec 'perl', "$root/conf/demo/departments.pl", '--port', $dport,
         '--callback', $t->url('/callback'), '--pace', 2,
         '--corrections', 1, '--wait', 30,
         '--secrets', "$root/conf/demo/secrets",
         '--state', "$t->{prefix}/departments",
         '--log', "$t->{prefix}/logs/departments.log" };
    POSIX::_exit(127);
}

# the demo's SMS gateway and national 好差评 system (gov_notify targets)
my $nport = $t->free_port;
my $npid = fork // die "fork: $!\n";
if ($npid == 0) {
    POSIX::setpgid(0, 0);
    open STDOUT, '>', '/dev/null';
    open STDERR, '>>', "$t->{prefix}/logs/notify.err";
    { exec 'perl', "$root/conf/demo/notify.pl", '--port', $nport,
         '--portal', $t->url(''), '--state', "$t->{prefix}/notify",
         '--log', "$t->{prefix}/logs/notify.log" };
    POSIX::_exit(127);
}

# the demo identity provider, seen by browsers at /idp/ of the portal
my $iport = $t->free_port;
my $ipid = fork // die "fork: $!\n";
if ($ipid == 0) {
    POSIX::setpgid(0, 0);
    open STDOUT, '>', '/dev/null';
    open STDERR, '>>', "$t->{prefix}/logs/idp.err";
    { exec 'perl', "$root/conf/demo/idp.pl", '--port', $iport,
         '--issuer', $t->url('/idp'), '--token', $t->token_tool,
         '--state', "$t->{prefix}/idp", '--log', "$t->{prefix}/logs/idp.log" };
    POSIX::_exit(127);
}

mkdir "$t->{prefix}/store" or die "store: $!\n";

$t->write_conf(http => <<"EOF", server => <<'EOF');
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%ROOT%%/conf/demo/keys/demo.jwks;
    gov_jwt_issuer https://idp.demo.gov.example;
    gov_jwt_audience gov-portal;
    gov_session_cookie GOVSID insecure samesite=lax;
    gov_auth_login_url /auth/oidc;
    gov_oidc demo {
        issuer http://127.0.0.1:%%PORT%%/idp;
        client_id gov-portal;
        client_secret_file %%ROOT%%/conf/demo/secrets/oidc-client;
        proxy /_idp;
        redirect_uri /auth/callback;
        scope "openid profile";
        id_token_alg ES256;
        post_logout_redirect_uri /;
    }
    include bundles.conf;
    gov_templates %%ROOT%%/templates;
    gov_progress_cache zone=progress:1m ttl=1s;
    gov_upload_store %%PREFIX%%/store;
    gov_upload_link_secret_file %%ROOT%%/conf/demo/secrets/upload-links;
    upstream gov_departments { server 127.0.0.1:$dport; }
    gov_events;
    gov_notify /internal/notify/sms/
               events=submitted,step,correction_requested,withdrawn;
    gov_notify /internal/notify/haocha/ events=rated;
    gov_notify_claim_idle 5s;
    gov_queue_zone peak rate=1/m;
EOF
    location = /auth/login { gov_login; }
    location = /auth/logout { gov_logout; }
    location = /auth/oidc { gov_login oidc=demo; }
    location = /auth/callback { gov_oidc_callback demo; }
    location /_idp/ { internal; proxy_pass http://127.0.0.1:%%IPORT%%/; }
    location /idp/ { proxy_pass http://127.0.0.1:%%IPORT%%/idp/; }
    location /demo/ { root %%PREFIX%%/html; }
    location /peak/ { gov_queue peak; alias %%ROOT%%/conf/demo/peak/; }
    location = /text-size { gov_text_size; }
    location /bundles/ { client_max_body_size 25m; gov_bundles; }
    location /uploads/ { client_max_body_size 25m; gov_upload; }
    location /progress/ { gov_progress; }
    location /callback/ { gov_callback; }
    location /stats/ { gov_stats; }
    location /internal/departments/ {
        internal;
        proxy_pass http://gov_departments/departments/;
    }
    location /internal/notify/ { internal; proxy_pass http://127.0.0.1:%%NPORT%%/; }
    location /notify/ { proxy_pass http://127.0.0.1:%%NPORT%%/; }
EOF
{
    my $conf = $t->read_file('conf/nginx.conf');
    $conf =~ s/%%NPORT%%/$nport/g;
    $conf =~ s/%%IPORT%%/$iport/g;
    $t->write_file('conf/nginx.conf', $conf);
}
$t->start_nginx;

my $shots = "$root/build/screenshots";

# over HTTPS and HTTP/2 (TEST_GOV_PROTO=h2): the journey once, with
# JavaScript; the identity provider and the departments stay on HTTP
my $h2 = $t->proto eq 'h2';
for my $mode ($h2 ? ('js') : qw(js nojs)) {
    my $pid = open(my $fh, '-|', 'node', "$root/t/browser/journey.mjs",
                   $t->origin, $shots, $mode)
        or die "node: $!\n";
    my $n = 0;
    while (my $line = <$fh>) {
        chomp $line;
        if ($line =~ /^(not )?ok - (.*?)(?: # (.*))?$/) {
            $n++;
            ok(!$1, "$mode: $2") or diag($3 // '');
        } else {
            diag($line);
        }
    }
    close $fh;
    is($? >> 8, 0, "$mode: the journey ran to its end");
    cmp_ok($n, '>', 40, "$mode: every check reported");
}

diag("screenshots in $shots");

if ($h2) {
    my @h2 = grep { m{"GET /bundles/\S* HTTP/2\.0"} }
             split /\n/, $t->read_file('logs/access.log');
    ok(scalar @h2, 'the browser was served the pages over HTTP/2');
}

# what the citizens were texted, what the national 好差评 system got
my $sms = '';
$t->wait_for(sub {
    $sms = Encode::decode_utf8($t->get('/notify/sms/')->{content} // '');
    $sms =~ /已撤回/ && $sms =~ /需要补正/ && $sms =~ /已受理/ }, 20);
like($sms, qr/【一网通办】您的新生儿出生一件事（NB\d+）已提交/,
     'the demo SMS gateway: the submission texted');
like($sms, qr/【一网通办】您的新生儿出生一件事（NB\d+）\S+已受理/,
     'a step accepted');
like($sms, qr/【一网通办】您的新生儿出生一件事（NB\d+）\S+需要补正/,
     'a correction asked');
like($sms, qr/【一网通办】您的新生儿出生一件事（NB\d+）已撤回/,
     'the withdrawal');
like($sms, qr/致 \d{4}\*+\d{3}[\dX]/, 'to the citizen, masked');
my $haocha = '';
$t->wait_for(sub {
    $haocha = Encode::decode_utf8($t->get('/notify/haocha/')->{content} // '');
    $haocha =~ /【好差评】/ }, 20);
like($haocha, qr/【好差评】新生儿出生一件事（NB\d+）评价 \d 分/,
     'the demo national rating system: the rating reported');
like(Encode::decode_utf8($t->read_file('logs/notify.log')), qr/sms \d+-\d+ 【一网通办】/,
     'each message logged');

kill 'TERM', -$npid;
waitpid $npid, 0;

kill 'TERM', -$dpid;
waitpid $dpid, 0;

kill 'TERM', -$ipid;
waitpid $ipid, 0;

$t->done;
done_testing();
