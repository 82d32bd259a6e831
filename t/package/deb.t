#!/usr/bin/perl

# The Debian package on this machine (make deb-test, as root): installed
# with apt-get, enabled through /etc/nginx/modules-enabled/, nginx -t
# passing with it, the package's example configuration served, then purged
# with nothing left behind.  GOV_DEB names the .deb (make deb builds it).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use GovTest;

my $deb = $ENV{GOV_DEB} // '';
plan skip_all => 'GOV_DEB names no .deb (run make deb-test)' unless -f $deb;
plan skip_all => 'installing a package needs root' unless $> == 0;

$ENV{DEBIAN_FRONTEND} = 'noninteractive';
my $pkg = 'libnginx-mod-http-gov';

sub installed {
    my $s = `dpkg-query -W -f='\${Status}' $pkg 2>/dev/null`;
    return $s =~ /install ok installed/;
}

sub run_ok {
    my ($what, @cmd) = @_;
    my $out = `@cmd 2>&1`;
    is($?, 0, $what) or diag $out;
    return $out;
}

system("apt-get purge -y -qq $pkg >/dev/null 2>&1") if installed();
ok(!installed(), 'not installed before the test');

my @files = ('/usr/lib/nginx/modules/ngx_http_gov_module.so',
             '/usr/share/nginx/modules-available/mod-http-gov.conf',
             '/usr/share/libnginx-mod-http-gov/templates/progress.mustache',
             '/usr/share/libnginx-mod-http-gov/examples/gov-portal.conf',
             '/usr/share/libnginx-mod-http-gov/examples/cn-2026.txt',
             "/usr/share/doc/$pkg/copyright");

# --- install ----------------------------------------------------------------

run_ok('apt-get install ./DEB', 'apt-get', 'install', '-y', '-qq',
       '--no-install-recommends', $deb =~ m{^/} ? $deb : "./$deb");
ok(installed(), 'installed');
ok(-e $_, "ships $_") for @files;

my $enabled = '/etc/nginx/modules-enabled/50-mod-http-gov.conf';
ok(-l $enabled, 'enabled in /etc/nginx/modules-enabled/');
is(readlink($enabled), '/usr/share/nginx/modules-available/mod-http-gov.conf',
   '... pointing at modules-available');
like(GovTest->read_file('/usr/share/nginx/modules-available/mod-http-gov.conf'),
     qr{^load_module modules/ngx_http_gov_module\.so;$}m,
     'the snippet loads the module');

my $deps = `dpkg-query -W -f='\${Depends}' $pkg`;
like($deps, qr/nginx-abi-1\.22\.1-\d+/, "depends on nginx's ABI ($deps)");
unlike($deps, qr/libjwt|libjansson|libhiredis/,
       'no run-time dependency on libjwt, jansson or hiredis');

ok(!grep({ /gov/ } glob('/etc/nginx/sites-*/*')),
   'nothing written into /etc/nginx/sites-*');

run_ok('nginx -t with the system configuration', 'nginx', '-t');

# --- the example, served ------------------------------------------------------

my $t = GovTest->new;
$t->start_redis;
my $port = $t->free_port;
my $prefix = $t->prefix;

my $example = GovTest->read_file(
    '/usr/share/libnginx-mod-http-gov/examples/gov-portal.conf');
$example =~ s/listen 127\.0\.0\.1:8080;/listen 127.0.0.1:$port;/
    or BAIL_OUT('the example has no listen line to move');
my $rport = $t->redis_port;
$example =~ s/gov_redis 127\.0\.0\.1:6379/gov_redis 127.0.0.1:$rport/
    or BAIL_OUT('the example has no gov_redis line to move');
$t->write_file('conf/portal.conf', $example);

my $user = $> == 0 ? "user root root;\n" : '';
$t->write_file('conf/nginx.conf', <<"CONF");
include /etc/nginx/modules-enabled/*.conf;
${user}worker_processes 1;
pid $prefix/logs/nginx.pid;
error_log $prefix/logs/error.log info;
events { worker_connections 64; }
http {
    access_log $prefix/logs/access.log;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    include $prefix/conf/portal.conf;
}
CONF

# Debian's prefix: the snippets in modules-enabled name modules/... from it
my @nginx = ('/usr/sbin/nginx', '-p', '/usr/share/nginx/', '-c',
             "$prefix/conf/nginx.conf", '-e', "$prefix/logs/error.log");
run_ok('nginx -t with the example and the enabled module', @nginx, '-t');
run_ok('nginx starts with the example', @nginx);
$t->{port} = $port;
$t->wait_for(sub { $t->get('/gov/health')->{status} }, 10);

my $res = $t->get('/gov/health');
is($res->{status}, 200, 'the example answers /gov/health with Redis up');
$res = $t->get('/gov/status');
is($res->{status}, 200, '... /gov/status');
like($res->{content}, qr/^gov_redis_connected 1$/m, '... Redis connected');
$res = $t->get('/bundles/', headers => { Accept => 'application/json' });
is($res->{status}, 200, '... /bundles/');
$res = $t->get('/bundles/', headers => { Accept => 'text/html' });
like($res->{content}, qr/<html lang="zh-CN">/,
     '... as a page from the packaged templates');

run_ok('nginx stops', @nginx, '-s', 'quit');
$t->wait_for(sub { !-e "$prefix/logs/nginx.pid" }, 10);

# --- purge ------------------------------------------------------------------

run_ok('apt-get purge', 'apt-get', 'purge', '-y', '-qq', $pkg);
ok(!installed(), 'purged');
ok(!-e $_, "gone: $_") for @files, $enabled, '/usr/share/libnginx-mod-http-gov',
                                  "/usr/share/doc/$pkg";
ok(!grep({ /gov/ } glob('/etc/nginx/modules-enabled/*')),
   'nothing of it left in /etc/nginx/modules-enabled/');
run_ok('nginx -t with the system configuration after the purge',
       'nginx', '-t');

$t->done;
done_testing();
