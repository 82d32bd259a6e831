#!/usr/bin/perl

# CONTRACT section 10, the outbox: every change to an application appends
# its event to the stream in the same script (gov_events): submitted, a
# step moved (dispatch, callbacks, an answered correction received),
# correction_requested, corrected, withdrawn, rated.  A change refused
# (an illegal move, a replay, a second rating) appends nothing.  The
# subject masked; no ID number, query code or token in any event.  The
# stream trimmed to about maxlen.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use GovTest;

# two items at the world's department; gov_events comes with a reload
my $t = GovTest->world(workers => 1,
                       bundles => GovTest::newborn(items => [qw(nhc cdc)]));

my $citizen = '110101199001011234';
my $zhang = $t->token(key => 'hs', alg => 'HS256', kid => 'h1', sub => $citizen);
my $agent = $t->token(key => 'hs', alg => 'HS256', kid => 'h1', sub => $citizen,
                      act => 'AGENT-5');
my %auth = (Authorization => "Bearer $zhang");

sub events {
    my ($key) = @_;
    return [ map { { id => $_->[0], @{ $_->[1] } } }
             @{ $t->redis_cmd('XRANGE', $key // 'gov:events', '-', '+') || [] } ];
}

my $seen = 0;

# the events appended since the last look
sub new_events {
    my $all = events();
    my @new = @$all[$seen .. $#$all];
    $seen = @$all;
    return \@new;
}

sub apply {
    my $res = $t->post('/bundles/newborn/applications',
                       body => encode_json({ fields => { name => '王小宝' },
                                             materials => { photo => 'ref-1' } }),
                       headers => { 'Content-Type' => 'application/json', %auth });
    return ($res->{json}{id}, $res->{json}{query_code});
}

my $n = 0;

sub callback {
    my ($id, $item, $doc, %o) = @_;
    my $ts = $o{ts} // time;
    my $body = $o{body} // encode_json({ %$doc, seq => ++$n });
    return ($t->callback($id, $item, $body, ts => $ts), $body, $ts);
}

sub step_state {
    my ($id, $item) = @_;
    my $s = $t->redis_cmd('HGET', "gov:steps:$id", $item);
    return $s ? decode_json($s)->{state} : '';
}

# --- without gov_events: nothing is written -------------------------------------

my ($id0) = apply();
ok($id0, 'an application without gov_events');
$t->wait_for(sub { step_state($id0, 'cdc') eq 'received' }, 10);
is($t->redis_cmd('EXISTS', 'gov:events'), 0, 'no stream without gov_events');

# --- with it --------------------------------------------------------------------

$t->write_world(http => "    gov_events;\n");
$t->reload;

my $before = time * 1000;
my ($id, $code) = apply();
ok($id, 'an application');
$t->wait_for(sub { step_state($id, 'nhc') eq 'received'
                   && step_state($id, 'cdc') eq 'received' }, 10);
my $ev = new_events();
is(scalar @$ev, 3, 'three events: submitted, then each step received');
my ($sub) = grep { $_->{type} eq 'submitted' } @$ev;
is($ev->[0]{type}, 'submitted', 'the submission first');
is_deeply([ @$sub{qw(application bundle subject)} ],
          [ $id, 'newborn', '1101**********1234' ],
          'with the application, the bundle and the subject masked');
ok($sub->{at} >= $before - 1000 && $sub->{at} <= time * 1000 + 1000,
   'at: when, in ms');
is_deeply([ sort map { "$_->{item}:$_->{from}>$_->{to}" }
            grep { $_->{type} eq 'step' } @$ev ],
          [ 'cdc:queued>received', 'nhc:queued>received' ],
          'each step: item, from, to');

my ($res) = callback($id, 'nhc', { state => 'accepted' });
is($res->{status}, 204, 'a callback');
$ev = new_events();
is(scalar @$ev, 1, 'one event');
is_deeply([ @{ $ev->[0] }{qw(type application item from to)} ],
          [ 'step', $id, 'nhc', 'received', 'accepted' ], 'the step moved');

# refused changes append nothing
($res) = callback($id, 'nhc', { state => 'delivered' });
is($res->{status}, 409, 'an illegal move: 409');
my ($r2, $body, $ts) = callback($id, 'nhc', { state => 'reviewing' });
is($r2->{status}, 204, 'reviewing');
($res) = callback($id, 'nhc', undef, body => $body, ts => $ts);
is($res->{status}, 409, 'its replay: refused');
$ev = new_events();
is_deeply([ map { "$_->{type}:$_->{to}" } @$ev ], [ 'step:reviewing' ],
          'only the change made has its event');

# the scripts go by their SHA1 once a connection has sent them whole; a
# flush of Redis's scripts is taken in stride: loaded again, then the
# same EVALSHA
like($t->redis_cmd('INFO', 'commandstats'), qr/cmdstat_evalsha:calls=[1-9]/,
     'the scripts sent as EVALSHA');
is($t->redis_cmd('SCRIPT', 'FLUSH'), 'OK', 'the scripts flushed');

# a correction asked, answered by an agent, received
is((callback($id, 'cdc', { state => 'accepted' }))[0]{status}, 204,
   'a change right after: made');
like($t->error_log, qr/gov redis: \S+ forgot a script, loaded it again/,
     'the script loaded again');
like($t->redis_cmd('INFO', 'commandstats'), qr/cmdstat_script\|load:calls=1,/,
     'by one SCRIPT LOAD');
($res) = callback($id, 'cdc', { state => 'correction',
                                request => { fields => [ 'name' ],
                                             note => '姓名有误' } });
is($res->{status}, 204, 'a correction request');
$res = $t->post("/progress/$id/steps/cdc/correction",
                body => encode_json({ fields => { name => '王大宝' } }),
                headers => { 'Content-Type' => 'application/json',
                             Authorization => "Bearer $agent" });
is($res->{status}, 202, 'answered');
$t->wait_for(sub { step_state($id, 'cdc') eq 'received' }, 10);
$ev = new_events();
is_deeply([ map { join ':', $_->{type}, $_->{item} // '', $_->{from} // '',
                            $_->{to} // '' } @$ev ],
          [ 'step:cdc:received:accepted',
            'correction_requested:cdc:accepted:correction',
            'corrected:cdc::',
            'step:cdc:correction:received' ],
          'asked, answered, received: each its event, in order');

# finished, then rated; a second rating appends nothing
callback($id, 'nhc', { state => 'approved' });
callback($id, 'cdc', { state => 'accepted' });
callback($id, 'cdc', { state => 'approved' });
new_events();
$res = $t->post("/progress/$id/rating", body => encode_json({ score => 2, comment => '太慢' }),
                headers => { 'Content-Type' => 'application/json', %auth });
is($res->{status}, 204, 'rated');
$res = $t->post("/progress/$id/rating", body => '{"score":5}',
                headers => { 'Content-Type' => 'application/json', %auth });
is($res->{status}, 409, 'rated twice: 409');
$ev = new_events();
is_deeply([ map { "$_->{type}:$_->{application}:$_->{score}" } @$ev ],
          [ "rated:$id:2" ], 'one rated event, with its score');

# withdrawn: one event naming the steps it stopped
my ($id2) = apply();
$t->wait_for(sub { step_state($id2, 'cdc') eq 'received' }, 10);
callback($id2, 'nhc', { state => 'accepted' });
callback($id2, 'nhc', { state => 'approved' });
new_events();
$res = $t->post("/progress/$id2/withdrawal", body => encode_json({ reason => '不办了' }),
                headers => { 'Content-Type' => 'application/json', %auth });
is($res->{status}, 200, 'withdrawn');
is($t->post("/progress/$id2/withdrawal", body => '{}',
            headers => { 'Content-Type' => 'application/json', %auth })->{status},
   409, 'nothing left: 409');
$ev = new_events();
is_deeply([ map { "$_->{type}:$_->{application}:$_->{items}" } @$ev ],
          [ "withdrawn:$id2:cdc" ], 'one withdrawn event, naming what it stopped');

# nothing a stranger may not see
my $text = decode_utf8(join "\n", map { join ' ', %$_ } @{ events() });
unlike($text, qr/\Q$citizen\E/, 'no ID number in any event');
unlike($text, qr/\Q$code\E/, 'no query code');
unlike($text, qr/\Q$zhang\E|eyJ/, 'no token');
unlike($text, qr/王|不办了|太慢/, 'no field, reason or comment');

# --- trimmed to about maxlen -----------------------------------------------------

my $kept = scalar @{ events() };
$t->redis_cmd('CONFIG', 'SET', 'stream-node-max-entries', '2');
$t->write_world(http => "    gov_events stream=outbox maxlen=4;\n");
$t->reload;
for (1 .. 10) {
    my ($i) = apply();
    $t->wait_for(sub { step_state($i, 'cdc') eq 'received' }, 10);
}
my $len = $t->redis_cmd('XLEN', 'gov:outbox');
ok($len >= 4 && $len < 10, "stream=outbox maxlen=4: 30 events kept as $len");
is($t->redis_cmd('XLEN', 'gov:events'), $kept, 'the old stream left as it was');

$t->done;
done_testing();
