#!/usr/bin/perl

# Sentinels and a master that both want passwords (CONTRACT section 14):
# gov_redis sentinel=... sentinel_password_file= password_file= reaches the
# master through sentinels that require a password; the sentinels' password
# wrong: nginx runs, answers 503, and the log says the sentinels refused it
# (never the password itself).

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use GovTest;

my $t = GovTest->new;
$t->start_redis(password => 'master-secret-123');
$t->start_redis(name => 'replica', replica_of => 'redis',
                args => [ '--masterauth', 'master-secret-123' ]);
my @sentinels = map { $t->start_sentinel(name => "s$_", monitor => 'redis',
                                         password => 'sentinel-secret-456') }
                1 .. 3;
$t->write_file('conf/master.pw', "master-secret-123\n");
$t->write_file('conf/sentinel.pw', "sentinel-secret-456\n");
$t->write_file('conf/wrong.pw', "not-the-password\n");

like($t->redis_cmd({ name => 's1', noauth => 1 }, 'SENTINEL', 'masters') // '',
     qr/^-NOAUTH/, 'the sentinels want a password');

my $list = join ',', map { "127.0.0.1:$_" } @sentinels;
my $server = "    location = /gov/health { gov_health; }\n";

sub conf {
    my ($spw) = @_;
    $t->write_conf(server => $server, http =>
        "    gov_redis sentinel=$list master=mymaster"
        . " sentinel_password_file=$spw password_file=master.pw timeout=2s;\n");
}

conf('sentinel.pw');
$t->start_nginx;
ok($t->wait_for(sub { $t->get('/gov/health')->{status} == 200 }, 10),
   'with both passwords: the master is reached through the sentinels');
my $mport = $t->redis_port;
like($t->error_log, qr/master "mymaster" is 127\.0\.0\.1:$mport/,
     '... the one they name');
$t->stop_nginx;

conf('wrong.pw');
$t->start_nginx;
sleep 1;
is($t->get('/gov/health')->{status}, 503,
   "the sentinels' password wrong: 503, nginx runs");
like($t->error_log, qr/AUTH to sentinels \S+ refused: "WRONGPASS/,
     '... and the log says the sentinels refused it');
unlike($t->error_log, qr/not-the-password|sentinel-secret|master-secret/,
       '... without a password in the log');

$t->done;
done_testing();
