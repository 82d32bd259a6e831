#!/usr/bin/perl

# The container image, built and run for real (make image-test): podman
# with the runc runtime builds the Dockerfile on a debian:bookworm base
# made here with debootstrap (no registry is reachable), runs the image on
# the host's network, and checks from outside that the demo answers — the
# portal, a bundle guide, gov_status with Redis connected, a submission and
# its progress —, that nginx and Redis inside run as the unprivileged user,
# and reports the image's size; then stops it.  Without a container engine
# that can run here it says so and skips.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use GovTest;

my $root = GovTest->root;
my $name = 'ngx-gov-image-test';
my $tag = 'localhost/ngx-gov:test';
my @podman = ('podman', '--runtime', 'runc');
my @limits = ('--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024');

sub run {
    my (@cmd) = @_;
    my $out = `@cmd 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = run(@podman, 'info', '--format', '{{.Host.OCIRuntime.Name}}');
plan skip_all => "no container engine can run here: podman with runc: $out"
    if $rc;

# nothing of the demo may be listening already: the container takes the
# host's ports (8080, 6380, 9101-9104)
for my $port (8080, 6380, 9101, 9102, 9103, 9104) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp');
    plan skip_all => "port $port is taken (make run's demo?): stop it first"
        if $s;
}

# --- the base image ------------------------------------------------------------

($rc) = run(@podman, 'image', 'exists', 'docker.io/library/debian:bookworm');
if ($rc) {
    my $rootfs = "$root/build/image/rootfs";
    system('rm', '-rf', $rootfs);
    ($rc, $out) = run('debootstrap', '--variant=minbase', 'bookworm', $rootfs,
                      'http://deb.debian.org/debian');
    is($rc, 0, 'debootstrap --variant=minbase bookworm') or diag $out;
    # as Debian's own images are made: no downloaded packages, no lists
    system("rm -rf $rootfs/var/cache/apt/archives/*.deb "
           . "$rootfs/var/cache/apt/*.bin $rootfs/var/lib/apt/lists/* "
           . "$rootfs/var/log/*.log");
    ($rc, $out) = run("tar -C $rootfs -c . | @podman import - "
                      . 'docker.io/library/debian:bookworm');
    is($rc, 0, 'podman import: debian:bookworm') or diag $out;
    system('rm', '-rf', $rootfs);
}

# --- build ---------------------------------------------------------------------

my $t0 = time;
($rc, $out) = run(@podman, 'build', '--network', 'host', @limits,
                  '-t', $tag, '-f', "$root/Dockerfile", $root);
is($rc, 0, sprintf('the Dockerfile builds (%.0f s)', time - $t0))
    or diag substr($out, -4000);

($rc, $out) = run(@podman, 'image', 'inspect', '--format', '{{.Size}}', $tag);
my $mb = $out =~ /^(\d+)/ ? $1 / 1e6 : 0;
ok($mb > 0, sprintf('the image: %.0f MB', $mb));
diag(sprintf 'image size: %.1f MB', $mb);

# --- run -----------------------------------------------------------------------

run(@podman, 'rm', '-f', $name);
($rc, $out) = run(@podman, 'run', '-d', '--name', $name, '--network', 'host',
                  @limits, $tag);
is($rc, 0, 'the container starts') or diag $out;

my $ua = HTTP::Tiny->new(timeout => 10);
my $base = 'http://127.0.0.1:8080';
my $up = 0;
for (1 .. 120) {
    my $r = $ua->get("$base/gov/health");
    if ($r->{status} == 200) {
        $up = 1;
        last;
    }
    sleep 0.5;
}
ok($up, 'the demo answers and reaches its Redis (gov_health 200)')
    or diag scalar `@podman logs $name 2>&1 | tail -40`;

my $r = $ua->get("$base/");
is($r->{status}, 200, 'the portal');
like($r->{content}, qr/一网通办|\xe4\xb8\x80\xe7\xbd\x91\xe9\x80\x9a\xe5\x8a\x9e/,
     '... its home page');

$r = $ua->get("$base/bundles/newborn",
              { headers => { Accept => 'application/json' } });
is($r->{status}, 200, 'a bundle guide');
my $guide = eval { decode_json($r->{content}) } || {};
ok(@{ $guide->{materials} || [] } >= 5, '... listing its materials');

$r = $ua->get("$base/gov/status");
is($r->{status}, 200, 'gov_status');
like($r->{content}, qr/^gov_redis_connected [1-9]/m, '... with Redis connected');

# a citizen's token, minted with the demo key as the demo's login page does
my $token = `$root/build/gov-token --key $root/conf/demo/keys/demo-es256.key --alg ES256 --kid demo-2026 --iss https://idp.demo.gov.example --aud gov-portal --ttl 600 --sub 110101199001011234 --name Zhang`;
chomp $token;
ok($token =~ /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a demo citizen\'s token');

my %mat = map { (($_->{id} // $_) => 'ref-image-test') }
          @{ $guide->{materials} || [] };
$r = $ua->post("$base/bundles/newborn/applications", {
    headers => { 'Content-Type' => 'application/json',
                 Authorization => "Bearer $token" },
    content => encode_json({
        fields => { baby_name => '王小宝', birth_date => '2026-11-20',
                    mother_name => '李梅', mother_id => '110101199001011234',
                    phone => '13800138000', hukou_local => '否' },
        materials => \%mat }) });
is($r->{status}, 201, 'a submission: 201') or diag $r->{content};
my $app = eval { decode_json($r->{content}) } || {};

$r = $ua->get("$base/progress/$app->{id}",
              { headers => { Authorization => "Bearer $token" } });
is($r->{status}, 200, 'its progress');
my $doc = eval { decode_json($r->{content}) } || {};
is($doc->{id}, $app->{id}, '... of that application');
is_deeply([ map { $_->{item} } @{ $doc->{steps} || [] } ],
          [ qw(birth_cert vaccination hukou medical_insurance
               social_security_card hukou_transfer) ],
          '... six steps: the parents\' hukou not both local adds the '
          . 'cross-region check (情形)');

# --- who runs what ---------------------------------------------------------------

($rc, $out) = run(@podman, 'top', $name, 'user', 'comm');
my @rows = grep { /nginx|redis/ } split /\n/, $out;
ok(@rows >= 2, 'nginx and Redis run in the container') or diag $out;
ok(!grep({ /^\s*root\s/ } @rows), '... none of them as root') or diag $out;

# --- stop --------------------------------------------------------------------

($rc, $out) = run(@podman, 'stop', '-t', '10', $name);
is($rc, 0, 'the container stops') or diag $out;
run(@podman, 'rm', '-f', $name);

done_testing();
