#!/usr/bin/perl

# The module loads into Debian's nginx, serves gov_status and gov_health,
# and rejects configuration mistakes at nginx -t with file:line.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use GovTest;

my $t = GovTest->new;
$t->start_redis;

$t->write_conf(
    http => <<'EOF',
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
EOF
    server => <<'EOF',
    location = /gov/status { gov_status; }
    location = /health { gov_health; }
    location = /static { return 200 "ok\n"; }
EOF
);

my ($rc, $out) = $t->test_conf;
is($rc, 0, 'nginx -t accepts a configuration with the module')
    or diag($out);

$t->start_nginx;

my $res = $t->get('/health');
is($res->{status}, 200, 'health answers 200 with Redis up');
is($res->{json}{redis}, 'up', 'health says Redis is up');

$res = $t->http('POST', '/health', body => 'x');
is($res->{status}, 405, 'health refuses POST');

$res = $t->get('/gov/status');
is($res->{status}, 200, 'gov_status answers 200');
like($res->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'gov_status speaks the Prometheus text format');

# the log phase counts a request after its answer went out: wait for it
my $m = $t->wait_for(sub {
    my $m = $t->metrics;
    return ($m->{gov_redis_connected} // 0) == 2
           && ($m->{'gov_requests_total{handler="health",code="405"}'} // 0)
           ? $m : undef;
}, 5);
ok($m, 'both workers report a connected Redis');
$m ||= $t->metrics;
is($m->{gov_workers}, 2, 'two workers report gauges');
cmp_ok($m->{gov_redis_commands_total} // 0, '>=', 1, 'the PING was counted');
is($m->{'gov_requests_total{handler="health",code="200"}'}, 1,
   'requests are counted by handler and status');
is($m->{'gov_requests_total{handler="health",code="405"}'}, 1,
   'a 405 is counted too');
like($t->get('/gov/status')->{content},
     qr/^# HELP gov_redis_errors_total .*\n# TYPE gov_redis_errors_total counter\n/m,
     'metrics carry HELP and TYPE');

$t->stop_nginx;
$t->check_logs;

# configuration mistakes: each caught by nginx -t with file and line

my @bad = (
    [ 'gov_redis 127.0.0.1:%%REDIS_PORT%% bogus=1;',
      qr/invalid parameter "bogus=1" in gov_redis in \S+nginx\.conf:\d+/ ],
    [ 'gov_redis 127.0.0.1:%%REDIS_PORT%% connections=0;',
      qr/invalid redis connections "connections=0", must be from 1 to 64 in \S+:\d+/ ],
    [ 'gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=soon;',
      qr/invalid redis command timeout "timeout=soon" in \S+:\d+/ ],
    [ 'gov_redis 127.0.0.1:%%REDIS_PORT%% db=x;',
      qr/invalid redis database number "db=x"/ ],
    [ 'gov_redis 127.0.0.1:%%REDIS_PORT%% password_file=/nonexistent/pw;',
      qr/cannot open redis password_file "\/nonexistent\/pw" \(2: No such file or directory\) in \S+:\d+/ ],
    [ "gov_redis 127.0.0.1:1;\n    gov_redis 127.0.0.1:2;",
      qr/"gov_redis" directive is duplicate in \S+nginx\.conf:\d+/ ],
    [ 'gov_redis no-such-host.invalid:6379;',
      qr/invalid redis address "no-such-host\.invalid:6379": host not found/ ],
    [ 'gov_redis 127.0.0.1:%%REDIS_PORT%% backoff=1ms;',
      qr/invalid redis backoff "backoff=1ms", must be at least 50ms/ ],
    [ 'gov_redis_prefix;',
      qr/invalid number of arguments in "gov_redis_prefix" directive in \S+:\d+/ ],
    [ 'gov_events stream=a/b;',
      qr/invalid stream name "a\/b" in "gov_events": letters, digits and ":_.-" only in \S+:\d+/ ],
    [ 'gov_events maxlen=0;',
      qr/invalid "maxlen=0" in "gov_events": a number of entries, at least 1 in \S+:\d+/ ],
    [ 'gov_events size=1;',
      qr/invalid parameter "size=1" in "gov_events": stream=NAME or maxlen=N in \S+:\d+/ ],
    [ "gov_events;\n    gov_events;",
      qr/"gov_events" directive is duplicate in \S+:\d+/ ],
    [ 'gov_notify /internal/sms;',
      qr/"gov_notify" needs "gov_events": the targets read its stream/ ],
    [ "gov_events;\n    gov_notify /internal/sms;",
      qr/"gov_notify" needs "gov_redis" and a server with "gov_bundles", whose locations the targets are/ ],
    [ 'gov_notify internal/sms;',
      qr/invalid URI "internal\/sms" in "gov_notify": a location of the server with gov_bundles, starting with "\/" in \S+:\d+/ ],
    [ 'gov_notify /internal/sms events=step,sent;',
      qr/unknown event type "sent" in "gov_notify": submitted, step, correction_requested, corrected, withdrawn, rated or rectified in \S+:\d+/ ],
    [ 'gov_notify /internal/sms types=step;',
      qr/invalid parameter "types=step" in "gov_notify": events=TYPE,\.\.\. in \S+:\d+/ ],
    [ "gov_notify /internal/sms;\n    gov_notify /internal/sms events=rated;",
      qr/"gov_notify" for "\/internal\/sms" is duplicate: a target is one consumer group in \S+:\d+/ ],
    [ 'gov_notify_claim_idle soon;',
      qr/"gov_notify_claim_idle" directive invalid value in \S+:\d+/ ],
    [ "gov_redis_prefix 'a b';\n    gov_events;",
      qr/"gov_events" needs a key prefix of letters, digits and ":_.-" only, not "a b"/ ],
    [ q{gov_redis_prefix "it's:";},
      qr/invalid "gov_redis_prefix" "it's:": no quote, backslash or newline/ ],
    [ 'gov_operator_claim role;',
      qr/invalid number of arguments in "gov_operator_claim" directive in \S+:\d+/ ],
    [ 'gov_operator_claim "" operator;',
      qr/"gov_operator_claim" needs a claim name and a value, neither empty in \S+:\d+/ ],
    [ "gov_operator_claim role operator;\n    gov_operator_claim roles admin;",
      qr/"gov_operator_claim" directive is duplicate in \S+:\d+/ ],
);

for my $case (@bad) {
    my ($http, $re) = @$case;
    $t->write_conf(http => "    $http\n");
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: $http");
    like($out, $re, 'with a precise message and file:line');
}

$t->write_file('empty.pw', "\n");
$t->write_conf(
    http => "    gov_redis 127.0.0.1:1 password_file=%%PREFIX%%/empty.pw;\n");
($rc, $out) = $t->test_conf;
like($out, qr/redis password_file "\S+empty\.pw" is empty/,
     'an empty password file is refused');

$t->write_conf(server => "    location /x { gov_status; gov_health; }\n");
($rc, $out) = $t->test_conf;
like($out,
     qr/"gov_health" directive is duplicate: a location has one gov handler in \S+:\d+/,
     'two gov handlers in one location are refused');

for my $case ([ 'gov_stats ttl=soon;', qr/invalid time "soon" in gov_stats ttl= in \S+:\d+/ ],
                [ 'gov_stats max_age=1m;',
                  qr/invalid parameter "max_age=1m" in gov_stats, only "ttl=TIME" in \S+:\d+/ ])
{
    $t->write_conf(server => "    location /stats/ { $case->[0] }\n");
    ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '... with a precise message and file:line');
}

$t->write_conf(
    server => "    location /x { proxy_pass http://127.0.0.1:1; gov_status; }\n");
($rc, $out) = $t->test_conf;
like($out,
     qr/"gov_status" conflicts with another content handler in this location/,
     'a gov handler next to proxy_pass is refused');

# a micro-cache zone too small for its workers is named at nginx -t
$t->write_file('logs/error.log', '');
$t->write_conf(http => "    gov_progress_cache zone=tiny:1m;\n", workers => 2);
($rc, $out) = $t->test_conf;
is($rc, 0, 'a small micro-cache zone is allowed');
like($out . $t->error_log, qr/\[notice\].*gov_progress_cache zone "tiny" of 1024 kB holds about 1024 progress documents, fewer than 1024 per worker.* in \S+:\d+/,
     'but nginx -t says how many documents it holds');
$t->write_file('logs/error.log', '');
$t->write_conf(http => "    gov_progress_cache zone=ok:4m;\n", workers => 2);
($rc, $out) = $t->test_conf;
unlike($out . $t->error_log, qr/gov_progress_cache zone/,
       'a zone of 4m for two workers is not');

# without gov_redis the health check says so instead of failing
$t->write_file('logs/error.log', '');
$t->write_conf(server => "    location = /health { gov_health; }\n");
$t->start_nginx;
$res = $t->get('/health');
is($res->{status}, 200, 'health without gov_redis answers 200');
is($res->{json}{redis}, 'off', 'and says Redis is off');

$t->done;
done_testing();
