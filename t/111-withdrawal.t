#!/usr/bin/perl

# CONTRACT section 9, withdrawal (撤回): every open step withdrawn in one
# script; a department that had its step is told (X-Gov-Withdrawal: 1,
# retried until it hears); a step still queued for retry is never sent;
# a delivery on its way when the citizen withdraws is followed by the
# notice; 409 when nothing is left; callbacks after it are refused; the
# applicant or their agent only; Redis down; the page's form.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use POSIX ();
use Time::HiRes ();
use GovTest;

# nhc (the world's "dept") takes every step; cdc is down until told
# otherwise, then slow
my $t = GovTest->new;
my $mode = $t->prefix . '/cdc.mode';
$t->write_file($mode, 'down');
$t->world(
    dept => sub {
        return { status => 200, body => encode_json({ receipt => 'R-nhc' }) };
    },
    backends => { cdc => sub {
        my ($req) = @_;
        open my $fh, '<', $mode or return { status => 503 };
        my $m = <$fh> // 'down';
        return { status => 503, body => '{}' } if $m eq 'down';
        return { status => 200, delay => 2,
                 body => encode_json({ receipt => 'R-cdc' }) } if $m eq 'slow';
        return { status => 200, body => encode_json({ receipt => 'R-cdc' }) };
    } },
    bundles => GovTest::newborn(items => [qw(nhc cdc)], at => { cdc => 'cdc' },
                                material => 'id_card "身份证" elicense'),
    http => <<'EOF', server => <<'EOF');
    gov_session_cookie GOVSID insecure;
    gov_templates %%ROOT%%/templates;
    gov_dispatch_timeout 1s;
EOF
    location = /auth/login { gov_login; }
EOF

my %tok = map { $_ => $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                                sub => $_) }
          qw(110101199001011234 310101198505052345);
my ($zhang, $li) = @tok{qw(110101199001011234 310101198505052345)};
my $agent = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234', act => 'AGENT-7');

sub auth { (Authorization => "Bearer $_[0]") }

sub apply {
    my $res = $t->post('/bundles/newborn/applications',
                       body => encode_json({ fields => { name => '王小宝' },
                                             materials => { id_card => 'elicense' } }),
                       headers => { 'Content-Type' => 'application/json',
                                    auth($zhang) });
    return $res->{json}{id};
}

sub withdraw {
    my ($id, $token, %o) = @_;
    return $t->post("/progress/$id/withdrawal",
                    body => $o{body} // encode_json({ reason => '孩子随父母迁往外地' }),
                    headers => { 'Content-Type' => $o{type} // 'application/json',
                                 ($token ? auth($token) : ()),
                                 %{ $o{headers} || {} } });
}

sub sent {
    my ($name, $id) = @_;
    return grep { ($_->{headers}{'x-gov-application'} // '') eq $id }
           $t->backend_requests($name);
}

my $n = 0;

sub callback {
    my ($id, $item, $state) = @_;
    return $t->callback($id, $item, { state => $state, seq => ++$n });
}

# --- one step with its department, one queued for retry ---------------------------

my $id = apply();
ok($id, 'an application');
my $doc = $t->get("/progress/$id", headers => { auth($zhang) })->{json};
is_deeply([ map { $_->{state} } @{ $doc->{steps} } ], [ 'received', 'queued' ],
          'nhc has it, cdc is down: queued for retry');
ok($doc->{withdrawable}, 'it may be withdrawn');

is(withdraw($id, $li)->{status}, 404, "another citizen: 404");
is(withdraw($id, undef)->{status}, 401, 'no identity: 401');
is(withdraw($id, $zhang, body => '{"reason":5}')->{status}, 422,
   'a reason that is not text: 422');
is(withdraw($id, $zhang, body => '{bad')->{status}, 400, 'malformed JSON: 400');

my $res = withdraw($id, $agent);
select undef, undef, undef, 0.2;
my $tried = () = sent('cdc', $id);
ok($tried >= 1, "cdc was tried ($tried) and refused while down");
is($res->{status}, 200, 'the agent withdraws for the citizen: 200');
is($res->{json}{id}, $id, 'with the progress document');
is($res->{json}{status}, 'withdrawn', 'the application is withdrawn');
is_deeply([ map { $_->{state} } @{ $res->{json}{steps} } ], [ 'withdrawn', 'withdrawn' ],
          'every open step');
ok(!$res->{json}{withdrawable}, 'nothing left to withdraw');
my $w = decode_json($t->redis_cmd('HGET', "gov:app:$id", 'withdrawal'));
is_deeply([ @$w{qw(reason actor)} ], [ '孩子随父母迁往外地', 'AGENT-7' ],
          'the reason and the agent are recorded');

$t->wait_for(sub { grep { $_->{headers}{'x-gov-withdrawal'} } sent('dept', $id) }, 10);
my ($notice) = grep { $_->{headers}{'x-gov-withdrawal'} } sent('dept', $id);
ok($notice, 'nhc, which had the step, is told');
is($notice->{headers}{'x-gov-withdrawal'}, '1', 'with X-Gov-Withdrawal: 1');
is_deeply([ @{ $notice->{headers} }{qw(x-gov-subject x-gov-actor)} ],
          [ '110101199001011234', 'AGENT-7' ],
          'the citizen\'s, withdrawn by the agent: both told');
is_deeply(decode_json($notice->{body}),
          { id => $id, item => 'nhc', withdrawn => JSON::PP::true,
            reason => '孩子随父母迁往外地' }, 'and what happened');

$t->write_file($mode, 'up');
sleep 4;
my $after = () = sent('cdc', $id);
is($after, $tried, 'cdc, up again, never gets the queued step');
is($t->redis_cmd('ZSCORE', 'gov:retry', "$id|cdc"), undef,
   'and it is out of the retry queue');
ok(!grep({ $_->{headers}{'x-gov-withdrawal'} } sent('cdc', $id)),
   'nor a withdrawal notice for what it never had');

is(withdraw($id, $zhang)->{status}, 409, 'again: 409');
is(withdraw($id, $zhang)->{json}{error}, 'nothing_to_withdraw',
   'nothing_to_withdraw');

$res = callback($id, 'nhc', 'accepted');
is($res->{status}, 409, 'a department moving a withdrawn step: 409');
is($res->{json}{state}, 'withdrawn', 'told it is withdrawn');

# --- a delivery on its way when the citizen withdraws ------------------------------

$t->write_file($mode, 'slow');
my $id2 = apply();
ok($id2, 'another application, cdc slow (2s) and the answer not awaited');
is($t->get("/progress/$id2", headers => { auth($zhang) })->{json}{steps}[1]{state},
   'queued', 'cdc still queued, its delivery on its way');
is(withdraw($id2, $zhang)->{status}, 200, 'withdrawn meanwhile');
$t->wait_for(sub { grep { $_->{headers}{'x-gov-withdrawal'} } sent('cdc', $id2) }, 15);
ok((grep { $_->{headers}{'x-gov-withdrawal'} } sent('cdc', $id2)),
   'cdc took the delivery after the withdrawal: it is told');
is($t->get("/progress/$id2", headers => { auth($zhang) })->{json}{steps}[1]{state},
   'withdrawn', 'and the step stays withdrawn');

# --- a withdrawal racing a department's callback ------------------------------------
#
# At the same instant the citizen withdraws and nhc approves.  Either the
# callback came first (204: nhc's step approved and kept, never told of a
# withdrawal; cdc's withdrawn) or the withdrawal did (the callback gets 409
# "withdrawn", and nhc is told with X-Gov-Withdrawal): never both, never
# neither, never a step in between.

$t->write_file($mode, 'up');
my (%won, @racing);
for my $i (1 .. 8) {
    my $rid = apply();
    is(callback($rid, 'nhc', 'accepted')->{status}, 204, "race $i: nhc accepted");
    push @racing, $rid;
}
my $at = Time::HiRes::time() + 0.5;
my (@kids, $k);
for my $rid (@racing) {
    for my $who ('withdraw', 'callback') {
        $k++;
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            $n = 10000 + $k;   # a body of its own: no replay of another
            Time::HiRes::sleep($at - Time::HiRes::time())
                if $at > Time::HiRes::time();
            my $res = $who eq 'withdraw' ? withdraw($rid, $zhang)
                                         : callback($rid, 'nhc', 'approved');
            $t->write_file("race-$rid-$who", encode_json({
                status => $res->{status}, json => $res->{json} }));
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
}
waitpid $_, 0 for @kids;
for my $rid (@racing) {
    my ($w, $c) = map { decode_json($t->read_file("race-$rid-$_")) }
                  qw(withdraw callback);
    my $steps = $t->get("/progress/$rid", headers => { auth($zhang) })->{json}{steps};
    my %state = map { $_->{item} => $_->{state} } @$steps;
    is($w->{status}, 200, "race $rid: the withdrawal is answered 200");
    is($state{cdc}, 'withdrawn', "race $rid: cdc withdrawn either way");
    if ($c->{status} == 204) {
        $won{callback}++;
        is($state{nhc}, 'approved', "race $rid: the callback first: nhc approved, kept");
        is_deeply([ map { $_->{state} } grep { $_->{item} eq 'nhc' }
                    @{ $w->{json}{steps} } ], [ 'approved' ],
                  "race $rid: the citizen is shown it");
    } else {
        $won{withdrawal}++;
        is_deeply([ $c->{status}, $c->{json}{error}, $c->{json}{state} ],
                  [ 409, 'illegal_transition', 'withdrawn' ],
                  "race $rid: the withdrawal first: the department hears 409 withdrawn");
        is($state{nhc}, 'withdrawn', "race $rid: nhc withdrawn");
    }
}
$t->wait_for(sub {
    !grep { my $rid = $_;
            (decode_json($t->read_file("race-$rid-callback"))->{status} != 204)
            != !!(grep { $_->{headers}{'x-gov-withdrawal'} } sent('dept', $rid)) }
    @racing }, 15);
for my $rid (@racing) {
    my $lost = decode_json($t->read_file("race-$rid-callback"))->{status} != 204;
    my $told = grep { $_->{headers}{'x-gov-withdrawal'} } sent('dept', $rid);
    ok($lost ? $told : !$told,
       "race $rid: nhc " . ($lost ? 'is told of the withdrawal'
                                  : 'is told of no withdrawal: its approval stands'));
}
diag('the race: ' . join(', ', map { "$_ first $won{$_}" } sort keys %won));

# --- the page ----------------------------------------------------------------------

my $id3 = apply();
my $page = decode_utf8($t->get("/progress/$id3",
                               headers => { auth($zhang), Accept => 'text/html' })->{content});
like($page, qr{撤回后不能恢复.*<a href="/progress/$id3/withdrawal">}s,
     'the progress page offers withdrawal, saying it cannot be undone');
unlike($page, qr{<form[^>]*action="/progress/$id3/withdrawal"},
       'on a page of its own');
$res = $t->get("/progress/$id3/withdrawal",
               headers => { auth($zhang), Accept => 'text/html' });
is($res->{status}, 200, 'the confirmation page');
$page = decode_utf8($res->{content});
like($page, qr{撤回后不能恢复.*<li>出生医学证明（卫生健康委，[^<]+）</li>.*<form method="post" action="/progress/$id3/withdrawal".*name="confirm" value="1" required.*<a href="/progress/$id3">}s,
     'says it cannot be undone, lists what it stops, asks to confirm, offers a way back');
is($t->get("/progress/$id3/withdrawal", headers => { auth($li), Accept => 'text/html' })
     ->{status}, 404, "another citizen's: 404");
is($t->get("/progress/$id3/withdrawal", headers => { auth($zhang) })->{status}, 405,
   'not a page: GET is not a withdrawal, 405');
my $code = $t->get("/progress/$id3", headers => { auth($zhang) })->{json}{query_code};
$res = $t->get("/progress/$id3/withdrawal" . ($code ? "?code=$code" : ''),
               headers => { Accept => 'text/html' });
ok($res->{status} == 401 || $res->{status} == 302,
   'with no identity: to the login, a query code or not');
$res = withdraw($id3, $zhang, type => 'application/x-www-form-urlencoded',
                body => 'reason=%E4%B8%8D%E5%8A%9E%E4%BA%86',
                headers => { Accept => 'text/html' });
is($res->{status}, 422, 'the form without the confirmation: 422');
is($t->get("/progress/$id3", headers => { auth($zhang) })->{json}{status},
   'processing', 'nothing withdrawn');

$res = $t->post('/auth/login', body => "token=$zhang",
                headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
my ($sid) = ($res->{headers}{'set-cookie'} // '') =~ /^GOVSID=([^;]+)/;
$res = withdraw($id3, undef, type => 'application/x-www-form-urlencoded',
                body => 'confirm=1&reason=x',
                headers => { Cookie => "GOVSID=$sid", Origin => 'http://evil.example' });
is($res->{status}, 403, 'from a foreign origin: 403');

$res = withdraw($id3, undef, type => 'application/x-www-form-urlencoded',
                body => 'confirm=1&reason=%E4%B8%8D%E5%8A%9E%E4%BA%86',
                headers => { Cookie => "GOVSID=$sid", Accept => 'text/html',
                             Origin => $t->origin });
is($res->{status}, 303, 'confirmed: 303');
is($res->{headers}{location}, "/progress/$id3", 'back to the progress page');
$doc = $t->get("/progress/$id3", headers => { auth($zhang) })->{json};
is($doc->{status}, 'withdrawn', 'withdrawn');
$page = decode_utf8($t->get("/progress/$id3",
                            headers => { auth($zhang), Accept => 'text/html' })->{content});
like($page, qr/已撤回/, 'the page says so');
unlike($page, qr/撤回后不能恢复/, 'and offers it no more');
$page = decode_utf8($t->get("/progress/$id3/withdrawal",
                            headers => { auth($zhang), Accept => 'text/html' })->{content});
like($page, qr/已没有可以撤回的事项/, 'its confirmation page says nothing is left');
unlike($page, qr/<form/, 'with no form');

# --- Redis down (last: a restarted Redis here keeps nothing) ----------------------

my $id4 = apply();
$t->stop_redis;
is(withdraw($id4, $zhang)->{status}, 503, 'Redis down: 503, nothing half-done '
   . '(one script does all or nothing)');
$t->start_redis;

$t->done;
done_testing();
