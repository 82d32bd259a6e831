#!/usr/bin/perl

# The fault matrix (issue #37): every dependency the module reaches over
# HTTP -- a department's backend (submission, the news of a withdrawal, a
# correction's answer, a promised material brought later, the retry
# queue), a region's gateway (an item another region handles), a
# department's status URI (the read-through of a lookup), a gov_notify
# target, the e-licence library and the identity provider (discovery,
# token endpoint, keys) -- given each fault in turn: the connection
# refused; accepted and never answered; 500; a 200 that is not what was
# promised; an answer slower than the proxy's timeout; a reset in the
# middle of the body.  For each fault, all four at once:
#
# - the citizen's request answers within its bound (README, "When a
#   dependency fails"): a submission 201 within gov_dispatch_timeout with
#   the step "queued"; a withdrawal 200, a correction's answer and a
#   promised material 202 within the same bound, their deliveries queued;
#   one that needs the library 503 with Retry-After within the proxy's
#   timeouts; a lookup 200 at once with the last state; a login the 502
#   page within the proxy's timeouts;
# - the workers idle afterwards (their CPU time over 3 s near zero);
# - error.log grows by a bounded amount (one dependency's failures are
#   logged at most once a second, its breaker stops the attempts);
# - once the dependency is back, every step queued meanwhile reaches the
#   department or the gateway, every withdrawal's news, correction and
#   material too, and every event the target, exactly once (answered
#   2xx); a login works again.
#
# Then a dead department's breaker and nginx -t for gov_breaker.  Redis's
# faults (single, Sentinel, Cluster) are t/191.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use GovTest;

my $t = GovTest->new;
my $prefix = $t->prefix;

# the dependency, one mock for the four roles, each role's fault in
# "fault.ROLE"; what it took while answering normally goes to "took.log"
my $dep = sub {
    my ($req) = @_;
    my ($role) = $req->{path} =~ m{^/(\w+)};
    my $mode = -e "$prefix/fault.$role"
               ? do { open my $f, '<', "$prefix/fault.$role"; local $/; <$f> }
               : 'ok';
    my $h = $req->{headers};
    my $what = $h->{'x-gov-event-id'} // $h->{'x-gov-application'} // '-';

    # news of a withdrawal, a correction's answer: apart from the step
    $role .= 'w' if $h->{'x-gov-withdrawal'};
    $role .= 'c' if $h->{'x-gov-correction'};
    $role .= 's' if $h->{'x-gov-supplement'};

    my $took = sub {
        open my $f, '>>', "$prefix/took.log" or return;
        print $f "$role $what\n";
        close $f;
    };

    return { delay => 30 } if $mode eq 'silent';
    return { status => 500, body => 'oops' } if $mode eq '500';
    if ($mode eq 'bad') {
        # a 200 is news heard, a correction taken, whatever its body says
        $took->() if $role =~ /^dpt[wcs]$/;
        return { status => 200, body => '<html>maintenance</html>' };
    }
    return { reset => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      . "Content-Length: 60\r\n\r\n{\"rece" }
        if $mode eq 'cut';

    my $res = $role =~ /^(?:dpt|gw)/ ? { status => 200,
                                 body => encode_json({ receipt => "R-$what" }) }
            : $role eq 'st' ? { status => 200,
                                body => encode_json({ state => 'accepted' }) }
            : $role eq 'ntf' ? { status => 204 }
            : { status => 200, body => '{"number":"L-1"}' };

    if ($mode eq 'slow') {
        $res->{delay} = 1.6;            # the proxy gives up after 1 s
        return $res;
    }

    $took->();

    return $res;
};

my $bundles = <<'EOF';
    gov_material photo "照片" elicense;
    gov_material paper "纸质证明" tolerable=3;
    gov_field name "姓名";
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend /internal/x_dpt; status /internal/x_st;
                   callback_secret_file dept.secret; materials photo paper;
                   fields name; time_limit 3; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc;
                         time_limit 10; }
    gov_region gw "北京市" /internal/x_gw/ callback_secret_file=dept.secret;
    gov_item transfer { name "户口迁移"; department "公安局";
                        backend /internal/x_gw/police;
                        callback_secret_file dept.secret; fields name;
                        time_limit 5; }
    gov_bundle move { name "迁户一件事"; code MV; items transfer;
                      time_limit 10; }
EOF

# each role's location, at the mock or (refused) at a port nobody holds
my $refused = $t->free_port;
sub server {
    my (%down) = @_;
    my $s = "    location = /gov/status { gov_status; }\n";
    for my $role (qw(dpt st ntf lic gw)) {
        my $addr = $down{$role} ? "127.0.0.1:$refused"
                                : '127.0.0.1:%%BACKEND:dep%%';
        my $dir = $role eq 'gw' ? '/' : '';     # a region's prefix
        $s .= "    location /internal/x_$role$dir { internal;\n"
            . "        proxy_connect_timeout 1s; proxy_read_timeout 1s;\n"
            . "        proxy_pass http://$addr/$role$dir; }\n";
    }
    return $s;
}

my $http = <<'EOF';
    gov_dispatch_timeout 2s;
    gov_elicense /internal/x_lic cache=0;
    gov_events;
    gov_notify /internal/x_ntf;
    gov_notify_claim_idle 2s;
    gov_breaker failures=5 open=2s;
EOF
$t->world(start => 0, workers => 2, backends => { dep => $dep },
          bundles => $bundles, server => server(), http => $http);
$t->start_nginx;

my %h = ('Content-Type' => 'application/json',
         Authorization => 'Bearer ' . $t->citizen);

# a citizen's POST of DOC as JSON: its answer and how long it took
sub timed_post {
    my ($path, $doc) = @_;
    my $t0 = time;
    my $r = $t->post($path, body => encode_json($doc), headers => \%h,
                     timeout => 20);
    return ($r, time - $t0);
}

sub submit {
    my ($photo, $promise) = @_;
    return timed_post('/bundles/newborn/applications',
                      { fields => { name => '张三' },
                        materials => { photo => $photo,
                                       $promise ? () : (paper => 'ref-p') },
                        $promise ? (promises => [ 'paper' ]) : () });
}

sub step {
    my ($id, $item) = @_;
    my $s = $t->redis_cmd('HGET', "gov:steps:$id", $item // 'nhc');
    return defined $s && !ref $s ? decode_json($s) : {};
}

sub took {
    my ($role) = @_;
    my %n;
    for (split /\n/, -e "$prefix/took.log" ? $t->read_file('took.log') : '') {
        my ($r, $what) = split / /;
        $n{$what}++ if $r eq $role;
    }
    return \%n;
}

# an application whose step has a receipt: the lookups read it through
my ($first) = submit('ref-1');
is($first->{status}, 201, 'everything up: a submission 201');
my $old = $first->{json}{id};
is(step($old)->{state}, 'received', '... its step received');

# one application a fault withdraws while the department is down, and one
# whose correction (补正) the citizen answers then
my @spare = map { (submit("ref-spare-$_"))[0]{json}{id} } 1 .. 6;
my @fix = map { (submit("ref-fix-$_"))[0]{json}{id} } 1 .. 6;
# and one whose promised paper (容缺) the citizen brings then
my @sup = map { (submit("ref-sup-$_", 1))[0]{json}{id} } 1 .. 6;
ok($t->wait_for(sub { !grep { step($_)->{state} ne 'received' }
                           @spare, @fix, @sup }, 10),
   'eighteen more, received');
my $seq = 0;
for my $id (@fix) {
    $t->callback($id, 'nhc', { state => 'accepted', seq => ++$seq });
    $t->callback($id, 'nhc', { state => 'correction', seq => ++$seq,
                               request => { fields => [ 'name' ],
                                            note => '姓名有误' } });
}
is(scalar(grep { step($_)->{state} eq 'correction' } @fix), 6,
   '... six of them asked for a correction');

my @all;                                # every application of the matrix
my (@withdrawn, @corrected, @supplied, @moved);

for my $fault (qw(refused silent 500 bad slow cut)) {
    if ($fault eq 'refused') {
        $t->write_world(server => server(map { $_ => 1 }
                                         qw(dpt st ntf lic gw)));
        $t->reload;
    } else {
        $t->write_file("fault.$_", $fault) for qw(dpt st ntf lic gw);
    }

    my $log0 = -s "$prefix/logs/error.log";
    my @ids;

    for my $n (1 .. 3) {
        my ($r, $dt) = submit("ref-$fault-$n");
        is($r->{status}, 201, "$fault: submission $n 201");
        cmp_ok($dt, '<', 2.6, sprintf('... within gov_dispatch_timeout (%.2f s)',
                                      $dt));
        my $step = $r->{json}{steps}[0] // {};
        is($step->{state}, 'queued', '... the step queued');
        push @ids, $r->{json}{id} if $r->{json}{id};
    }
    push @all, @ids;

    my ($r, $dt) = submit('elicense');
    if ($fault eq 'bad') {
        # the library's word is its status: 200 is "held"
        is($r->{status}, 201, "$fault: an e-licence the library says 200 to: 201");
        push @ids, $r->{json}{id} if $r->{json}{id};
        push @all, $r->{json}{id} if $r->{json}{id};
    } else {
        is($r->{status}, 503, "$fault: a submission that needs the library 503");
        like($r->{headers}{'retry-after'} // '', qr/^\d+$/, '... with Retry-After');
        like($r->{content}, qr/"reason":"elicense"/, '... the library named');
        cmp_ok($dt, '<', 2.6, sprintf("... within the proxy's timeouts (%.2f s)",
                                      $dt));
    }

    # a withdrawal: answered at once, its news queued for the department
    my $w = shift @spare;
    my ($wr, $wt) = timed_post("/progress/$w/withdrawal",
                               { reason => '不办了' });
    is($wr->{status}, 200, "$fault: a withdrawal 200");
    cmp_ok($wt, '<', 2.6, sprintf('... within gov_dispatch_timeout (%.2f s)',
                                  $wt));
    push @withdrawn, $w;

    # a correction's answer: 202 at once, delivered once the department is back
    my $fx = shift @fix;
    my ($cr, $ct) = timed_post("/progress/$fx/steps/nhc/correction",
                               { fields => { name => '王大宝' } });
    is($cr->{status}, 202, "$fault: a correction answered 202");
    cmp_ok($ct, '<', 2.6, sprintf('... within gov_dispatch_timeout (%.2f s)',
                                  $ct));
    push @corrected, $fx;

    # the promised paper brought: 202 at once, delivered once it is back
    my $sp = shift @sup;
    my ($sr, $st) = timed_post("/progress/$sp/materials",
                               { materials => { paper => "ref-paper-$fault" } });
    is($sr->{status}, 202, "$fault: a promised material brought 202");
    cmp_ok($st, '<', 2.6, sprintf('... within gov_dispatch_timeout (%.2f s)',
                                  $st));
    push @supplied, $sp;

    # an item another region handles: its gateway (异地受理)
    my ($mr, $mt) = timed_post('/bundles/move/applications',
                               { fields => { name => '李四' } });
    is($mr->{status}, 201, "$fault: a submission to a region's gateway 201");
    cmp_ok($mt, '<', 2.6, sprintf('... within gov_dispatch_timeout (%.2f s)',
                                  $mt));
    is(($mr->{json}{steps}[0] // {})->{state}, 'queued', '... its step queued');
    push @moved, $mr->{json}{id} if $mr->{json}{id};

    my $t0 = time;
    my $p = $t->get("/progress/$old", headers => \%h);
    my $pt = time - $t0;
    is($p->{status}, 200, "$fault: a lookup 200");
    cmp_ok($pt, '<', 0.5, sprintf('... at once (%.2f s)', $pt));
    like($p->{content}, qr/"state":"received"/, '... the last state');

    sleep 2;                            # retries and notifications fail
    my $c0 = $t->cpu_ticks;
    sleep 3;
    my $c = $t->cpu_ticks - $c0;
    cmp_ok($c, '<', 30, "$fault: the workers idle ($c ticks in 3 s)");

    my $grew = (-s "$prefix/logs/error.log") - $log0;
    cmp_ok($grew, '<', 48 * 1024, "$fault: error.log grew $grew bytes");

    # back
    if ($fault eq 'refused') {
        $t->write_world(server => server());
        $t->reload;
    } else {
        unlink "$prefix/fault.$_" for qw(dpt st ntf lic gw);
    }

    ok($t->wait_for(sub { !grep { step($_)->{state} ne 'received' } @ids }, 60),
       "$fault: back, every queued step received");
    ok($t->wait_for(sub { took('dptw')->{$w} }, 60),
       "$fault: ... and the news of the withdrawal heard");
    ok($t->wait_for(sub { took('dptc')->{$fx} }, 60),
       "$fault: ... and the correction taken");
    ok($t->wait_for(sub { took('dpts')->{$sp} }, 60),
       "$fault: ... and the promised paper");
    ok($t->wait_for(sub { step($moved[-1], 'transfer')->{state} eq 'received' },
                    60), "$fault: ... and the region's step received");
}

my $news = took('dptw');
is_deeply([ map { $news->{$_} // 0 } @withdrawn ], [ (1) x @withdrawn ],
          'each withdrawal heard once (answered)');
my $fixes = took('dptc');
is_deeply([ map { $fixes->{$_} // 0 } @corrected ], [ (1) x @corrected ],
          "each correction's answer taken once (answered)");

my $papers = took('dpts');
is_deeply([ map { $papers->{$_} // 0 } @supplied ], [ (1) x @supplied ],
          'each promised material delivered once (answered)');
my $gw = took('gw');
is_deeply([ map { $gw->{$_} // 0 } @moved ], [ (1) x @moved ],
          "each region's step reached its gateway once (answered)");

# exactly once: each application's step taken once while answering
my $took = took('dpt');
my @twice = grep { ($took->{$_} // 0) != 1 } @all;
is_deeply(\@twice, [], 'every step reached the department once (answered)')
    or diag explain { map { $_ => $took->{$_} } @twice };

# every event delivered to the target once (answered 2xx)
ok($t->wait_for(sub {
       my $m = $t->metrics;
       ($m->{'gov_notify_pending{target="/internal/x_ntf"}'} // 1) == 0
   }, 60), 'the notify target caught up');
my $ev = took('ntf');
my @dup = grep { $ev->{$_} != 1 } keys %$ev;
is_deeply(\@dup, [], 'every event taken by the target once ('
                     . scalar(keys %$ev) . ' events)');
cmp_ok(scalar(keys %$ev), '>', scalar @all,
       "... the submissions' and their steps'");

# --- a dead department costs nothing once its breaker is open -------------
#
# Silent: each submission waits the proxy's 1 s for it, five in a row;
# then the breaker opens and submissions are 201 at once, the steps queued
# without trying; a probe after the open time, once it answers, closes it.

$t->write_file('fault.dpt', 'silent');
my (@slow, @ids);
for my $n (1 .. 8) {
    my ($r, $dt) = submit("ref-dead-$n");
    push @slow, $dt;
    push @ids, $r->{json}{id} if $r->{status} == 201;
}
is(scalar @ids, 8, 'a silent department: every submission 201');
cmp_ok($slow[0], '>', 0.9, sprintf('... the first waits for it (%.2f s)',
                                   $slow[0]));
cmp_ok($_, '<', 0.2, sprintf('... once its breaker is open, at once (%.2f s)',
                             $_))
    for @slow[6, 7];
my $open = $t->metrics;
is($open->{'gov_breaker_state{target="/internal/x_dpt"}'}, 1,
   'gov_status: the breaker open');
cmp_ok($open->{'gov_breaker_refused_total{target="/internal/x_dpt"}'}, '>=', 2,
       '... requests refused without trying');
unlink "$prefix/fault.dpt";
push @all, @ids;
ok($t->wait_for(sub { !grep { step($_)->{state} ne 'received' } @ids }, 60),
   'the department back: every step queued meanwhile received');
$took = took('dpt');
@twice = grep { ($took->{$_} // 0) != 1 } @ids;
is_deeply(\@twice, [], '... each once');

my $m = $t->metrics;
cmp_ok($m->{'gov_breaker_opened_total{target="/internal/x_dpt"}'} // 0, '>=', 1,
       "the department's breaker opened");
is($m->{'gov_breaker_state{target="/internal/x_dpt"}'}, 0, '... and closed again');
like($t->error_log, qr/gov breaker: "\/internal\/x_dpt" open after \d+ failures/,
     '... logged');
like($t->error_log, qr/\(and \d+ more in the last \d+ s\)/,
     'repeated failures summed up in the log');

# --- the identity provider -------------------------------------------------
#
# Its location refused; then each endpoint in turn (discovery, token, JWKS)
# silent, answering 500, a 200 that is not what was asked, slower than the
# proxy's timeout, or cut in the middle of its body, with the workers'
# caches fresh (a reload), so that the endpoint is asked: the 502 page
# within the proxy's timeouts where the endpoint is needed (discovery at
# the login's start, the token and the keys at its callback), no session,
# a line or so in the log; back, the next login works.

$t->oidc_provider;
my $silent = $t->fake_redis;            # accepts, never answers
sub idp_conf {
    my ($addr) = @_;
    $t->write_world(
        http => $http . <<'EOF'
    gov_templates %%ROOT%%/templates;
    gov_session_cookie GOVSID insecure;
EOF
            . $t->oidc_conf('idp'),
        server => server() . <<"EOF");
    location /_idp/ { internal;
        proxy_connect_timeout 1s; proxy_read_timeout 1s;
        proxy_pass http://$addr/; }
    location = /auth/oidc { gov_login oidc=idp; }
    location = /auth/callback { gov_oidc_callback idp; }
EOF
    $t->reload;
}

my $idp = '127.0.0.1:%%BACKEND:idp%%';
idp_conf($idp);
my $ok = $t->oidc_login('/auth/oidc');
is($ok->{callback}{status}, 303, 'the provider up: a login 303');

my $html = { Accept => 'text/html' };

sub no_session {
    my ($res) = @_;
    my $sc = $res->{headers}{'set-cookie'} // '';
    $sc = join ', ', @$sc if ref $sc;
    unlike($sc, qr/GOVSID=[^;]/, '... no session');
}

# the location refused: the login started before, its callback after
{
    my $c = $t->oidc_login('/auth/oidc', no_callback => 1);
    ok($c->{back}, 'refused: a login started');
    idp_conf("127.0.0.1:$refused");
    my $t0 = time;
    my $res = $t->get($c->{back} // '/auth/callback',
                      headers => { %$html, Cookie => $c->{binding} // '' });
    my $dt = time - $t0;
    is($res->{status}, 502, 'refused: the callback answers the 502 page');
    no_session($res);
    cmp_ok($dt, '<', 2.6, sprintf("... within the proxy's timeouts (%.2f s)",
                                  $dt));
    idp_conf($idp);
    ok($t->wait_for(sub {
           ($t->oidc_login('/auth/oidc')->{callback}{status} // 0) == 303
       }, 15), 'refused: back, a login works again');
}

for my $ep (qw(discovery token jwks)) {
    for my $fault (qw(silent 500 bad slow cut)) {
        my $what = "$ep $fault";
        $t->write_file("idp/fault.$ep", $fault);
        idp_conf($idp);                 # fresh workers: nothing cached
        if ($ep eq 'jwks') {
            # the keys are shared by the workers: a key they do not know
            # yet, a minute after the last refresh (at most one a minute)
            $t->oidc_key('idp', [ 'rsa', 'RS256', "idp-$fault" ],
                         [ 'rsa', 'RS256', 'idp1' ]);
            $t->redis_cmd('DEL', 'gov:oidc:idp:refresh');
        }
        my $log0 = -s "$prefix/logs/error.log";
        my $t0 = time;
        my $c = $t->oidc_login('/auth/oidc', no_callback => 1);
        my $res = $c->{start};
        if ($ep ne 'discovery') {
            ok($c->{back}, "$what: a login started") or next;
            $t0 = time;
            $res = $t->get($c->{back}, headers => { %$html,
                                                    Cookie => $c->{binding} });
        }
        my $dt = time - $t0;
        is($res->{status}, 502, "$what: the 502 page"
                                . ($ep eq 'discovery' ? ' at the start'
                                                      : ' at the callback'));
        no_session($res);
        cmp_ok($dt, '<', 2.6, sprintf("... within the proxy's timeouts "
                                      . '(%.2f s)', $dt));
        my $grew = (-s "$prefix/logs/error.log") - $log0;
        cmp_ok($grew, '<', 8 * 1024, "... error.log grew $grew bytes");

        unlink "$prefix/idp/fault.$ep";
        ok($t->wait_for(sub {
               ($t->oidc_login('/auth/oidc')->{callback}{status} // 0) == 303
           }, 15), "$what: back, a login works again");
    }
}

$t->stop_nginx;
$t->check_logs(allow => [ qr/upstream|connect\(\) failed|recv\(\) failed/,
                          qr/prematurely closed/ ]);

# --- gov_breaker: nginx -t ---------------------------------------------------

for my $case (
    [ 'gov_breaker failures=0;',
      qr/invalid breaker "failures=0": failures in a row from 1 to 1000 \("off" for no breaker\) in \S+:\d+/ ],
    [ 'gov_breaker open=500ms;',
      qr/invalid breaker "open=500ms": an open time from 1s to 1h in \S+:\d+/ ],
    [ 'gov_breaker open=soon;', qr/invalid breaker "open=soon"/ ],
    [ 'gov_breaker tries=3;',
      qr/invalid parameter "tries=3": gov_breaker takes failures=N and open=TIME, or "off" in \S+:\d+/ ],
    [ "gov_breaker off;\n    gov_breaker failures=3;",
      qr/"gov_breaker" directive is duplicate in \S+:\d+/ ])
{
    $t->write_conf(http => "    $case->[0]\n");
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '... with a precise message and file:line');
}

$t->write_conf(http => "    gov_breaker off;\n");
is(($t->test_conf)[0], 0, 'nginx -t: gov_breaker off');

$t->write_file('logs/error.log', '');
$t->done;
done_testing();
