#!/usr/bin/perl

# CONTRACT section 10, notifications: each gov_notify target a consumer
# group of the events stream, read by every worker of every node.  Each
# event of its types POSTed as JSON with X-Gov-Event-Id; a 2xx
# acknowledges it, anything else is tried again with backoff while other
# applications' events go on; one application's events in stream order;
# a worker killed mid-delivery: another takes its events over; two nodes
# on one Redis: each event delivered once in all; Redis restarted (AOF):
# nothing lost; a target down all along: the others unaffected, its
# backlog in gov_status.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes ();
use GovTest;

my @aof = (args => [ '--appendonly', 'yes', '--appendfsync', 'always' ]);

my $t = GovTest->new;
$t->start_redis(@aof);
my $prefix = $t->prefix;

# each target writes down what it answered, event by event
sub target {
    my ($name) = @_;
    $t->write_file("mode-$name", 'up');
    return sub {
        my ($req) = @_;
        open my $fh, '<', "$prefix/mode-$name";
        my $mode = <$fh> // 'up';
        my $status = $mode eq 'down' ? 500 : $mode eq 'dead' ? 503 : 200;
        if (open my $log, '>>', "$prefix/answers-$name") {
            print $log encode_json({ id => $req->{headers}{'x-gov-event-id'},
                                     status => $status,
                                     body => $req->{body} }), "\n";
            close $log;
        }
        return { status => $status, body => '{}',
                 ($mode eq 'slow' ? (delay => 4) : ()) };
    };
}

my %targets = map { $_ => target($_) } qw(sms hcp all dead);
$t->write_file('mode-dead', 'dead');

$t->world(redis => 0, backends => \%targets,
          bundles => GovTest::newborn(items => [qw(nhc cdc)]),
          http => <<'EOF', server => <<'EOF');
    gov_events;
    gov_notify /internal/sms events=step,correction_requested;
    gov_notify /internal/hcp events=rated;
    gov_notify /internal/all;
    gov_notify /internal/dead;
    gov_notify_claim_idle 2s;
    gov_dispatch_timeout 10s;
EOF
    location = /status { gov_status; }
EOF

my $zhang = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234');

# a consumer that never reads again (a worker gone with nothing pending)
sub consumers {
    my ($group) = @_;
    my $c = $t->redis_cmd('XINFO', 'CONSUMERS', 'gov:events', $group);
    return ref $c eq 'ARRAY' ? map { { @$_ } } @$c : ();
}
sub groups {
    my $g = $t->redis_cmd('XINFO', 'GROUPS', 'gov:events');
    return ref $g eq 'ARRAY' ? map { $_->[1] } @$g : ();
}
ok($t->wait_for(sub { grep { $_ eq '/internal/all' } groups() }, 5),
   'the group made');
$t->redis_cmd('XGROUP', 'CREATECONSUMER', 'gov:events', '/internal/all',
              'gone:1');
my %auth = (Authorization => "Bearer $zhang");

sub answers {
    my ($name) = @_;
    open my $fh, '<', "$prefix/answers-$name" or return ();
    return map { decode_json($_) } <$fh>;
}

# the stream's events, each {id, fields...}
sub events {
    return map { { id => $_->[0], @{ $_->[1] } } }
           @{ $t->redis_cmd('XRANGE', 'gov:events', '-', '+') || [] };
}

# ids taken (2xx) by a target, in the order it took them
sub taken {
    my ($name) = @_;
    return map { $_->{id} } grep { $_->{status} == 200 } answers($name);
}

sub mode { $t->write_file("mode-$_[0]", $_[1]) }

sub apply {
    my ($node) = @_;
    my $res = ($node // $t)->post('/bundles/newborn/applications',
                  body => encode_json({ fields => { name => '王小宝' },
                                       materials => { photo => 'r' } }),
                  headers => { 'Content-Type' => 'application/json', %auth });
    return $res->{json}{id};
}

my $n = 0;

sub callback {
    my ($id, $item, $doc) = @_;
    return $t->callback($id, $item, { %$doc, seq => ++$n });
}

sub step_state {
    my ($id, $item) = @_;
    my $s = $t->redis_cmd('HGET', "gov:steps:$id", $item);
    return $s ? decode_json($s)->{state} : '';
}

sub metric {
    my ($name, $target) = @_;
    my $text = $t->get('/status')->{content};
    my $label = defined $target ? qr/\{target="\Q$target\E"\}/ : qr//;
    return $text =~ /^$name$label ([\d.]+)$/m ? $1 : undef;
}

# every event of the stream of these types, taken by the target once each
sub all_taken {
    my ($name, @types) = @_;
    my %want = map { $_->{id} => 1 }
               grep { my $e = $_; !@types || grep { $e->{type} eq $_ } @types }
               events();
    my %got;
    $got{$_}++ for taken($name);
    return !grep { !$got{$_} } keys %want;
}

# in stream order per application, as a target took them
sub in_order {
    my ($name) = @_;
    my %app = map { $_->{id} => $_->{application} } events();
    my (%last, %seen);
    for my $id (taken($name)) {
        next if $seen{$id}++;
        my $a = $app{$id} // next;
        my @k = split /-/, $id;
        my @l = split /-/, ($last{$a} // '0-0');
        return 0 if $k[0] < $l[0] || ($k[0] == $l[0] && $k[1] < $l[1]);
        $last{$a} = $id;
    }
    return 1;
}

# --- a target down for a while, then up ------------------------------------------

mode('all', 'down');
my @apps = map { apply() } 1 .. 3;
ok(!grep({ !$_ } @apps), 'three applications');
$t->wait_for(sub { !grep { step_state($_, 'cdc') ne 'received' } @apps }, 10);
for my $id (@apps) {
    is(callback($id, 'nhc', { state => 'accepted' })->{status}, 204, "$id accepted");
    is(callback($id, 'cdc', { state => 'correction',
                              request => { fields => [ 'name' ] } })->{status},
       204, "$id: a correction asked");
}
my @events = events();
is(scalar @events, 3 * 5, 'five events each');

ok($t->wait_for(sub { all_taken('sms', 'step', 'correction_requested') }, 15),
   'the SMS target took its types');
my @sms = answers('sms');
ok(!grep({ my $b = decode_json($_->{body});
           $b->{type} ne 'step' && $b->{type} ne 'correction_requested' } @sms),
   'and nothing else');
my ($one) = grep { decode_json($_->{body})->{type} eq 'correction_requested' } @sms;
my $body = decode_json($one->{body});
is($body->{id}, $one->{id}, 'X-Gov-Event-Id is the event\'s id');
is_deeply([ @$body{qw(bundle item from to subject)} ],
          [ 'newborn', 'cdc', 'received', 'correction', '1101**********1234' ],
          'the event as JSON, the subject masked');
like($body->{at}, qr/^\d{13}$/, 'at: a number, ms');
ok(!answers('hcp'), 'the ratings target: nothing yet');

$t->wait_for(sub { (metric('gov_notify_retried_total', '/internal/all') // 0) >= 3 }, 10);
ok(metric('gov_notify_retried_total', '/internal/all') >= 3,
   'the target down: its deliveries tried again');
ok(!taken('all'), 'none taken meanwhile');
$t->wait_for(sub { (metric('gov_notify_pending', '/internal/all') // 0) > 0 }, 5);
ok(metric('gov_notify_pending', '/internal/all') > 0, 'its events pending');

# one of them taken over by another consumer (as a worker that thought
# this one gone would): this worker's next try leaves it to them
sub owner {
    my ($id) = @_;
    my $p = $t->redis_cmd('XPENDING', 'gov:events', '/internal/all',
                          $id, $id, 1);
    return ref $p eq 'ARRAY' && @$p ? $p->[0][1] : '';
}
my $stolen = (events())[0]{id};
$t->redis_cmd('XCLAIM', 'gov:events', '/internal/all', 'other:1', 0,
              $stolen, 'JUSTID');
Time::HiRes::sleep(1.5);
is(owner($stolen), 'other:1',
   'an event another consumer took over is not taken back by a retry');
$t->wait_for(sub { (metric('gov_events_appended_total') // 0) == 15 }, 5);
is(metric('gov_events_appended_total'), 15, 'gov_status: events appended');

mode('all', 'up');
ok($t->wait_for(sub { all_taken('all') }, 20), 'up again: every event taken');
my %count;
$count{$_}++ for taken('all');
ok(!grep({ $_ > 1 } values %count), 'each once, once acknowledged');
ok(in_order('all'), 'in stream order per application');
$t->wait_for(sub { (metric('gov_notify_pending', '/internal/all') // 1) == 0 }, 5);
is(metric('gov_notify_pending', '/internal/all'), 0, 'nothing pending');
ok(metric('gov_notify_delivered_total', '/internal/all') >= 15, 'delivered counted');

# ratings reach their own target
callback($apps[0], 'nhc', { state => 'approved' });
callback($apps[0], 'cdc', { state => 'received' });
callback($apps[0], 'cdc', { state => 'accepted' });
callback($apps[0], 'cdc', { state => 'approved' });
is($t->post("/progress/$apps[0]/rating", body => '{"score":4}',
            headers => { 'Content-Type' => 'application/json', %auth })->{status},
   204, 'a rating');
ok($t->wait_for(sub { answers('hcp') }, 10), 'the ratings target got it');
my @hcp = answers('hcp');
is(scalar @hcp, 1, 'that one only');
is_deeply([ @{ decode_json($hcp[0]{body}) }{qw(type application score)} ],
          [ 'rated', $apps[0], 4 ], 'the rating event');

# the target down all along: others unaffected, its backlog visible
ok(!taken('dead'), 'the dead target took nothing');
$t->wait_for(sub { (metric('gov_notify_pending', '/internal/dead') // 0)
                   + (metric('gov_notify_lag', '/internal/dead') // 0) >= 10 }, 5);
ok(metric('gov_notify_pending', '/internal/dead')
   + metric('gov_notify_lag', '/internal/dead') >= 10,
   'its backlog in gov_status');
ok(metric('gov_notify_oldest_pending_seconds', '/internal/dead') > 0,
   'and how old');

# --- a worker killed mid-delivery --------------------------------------------------

mode('all', 'slow');
my $before = scalar answers('all');
my $kid = apply();
$t->wait_for(sub { scalar answers('all') > $before }, 10);
my $p = $t->redis_cmd('XPENDING', 'gov:events', '/internal/all', '-', '+', 10);
my ($held) = grep { $_->[1] =~ /:\d+$/ } @{ $p || [] };
ok($held, 'an event on its way, held by a worker');
my ($pid) = $held->[1] =~ /:(\d+)$/;
ok(kill('KILL', $pid), "that worker ($pid) killed");
mode('all', 'up');
ok($t->wait_for(sub {
       my $s = $t->redis_cmd('XPENDING', 'gov:events', '/internal/all');
       $s->[0] == 0 && all_taken('all') }, 20),
   'its events taken over and delivered by another');
ok(scalar(grep { $_->{id} eq $held->[0] } answers('all')) >= 2,
   'the one in flight sent again');
ok(in_order('all'), 'still in order per application');

# --- two nodes on one Redis ----------------------------------------------------------

my $t2 = $t->node;

$t->wait_for(sub { all_taken('sms', 'step', 'correction_requested') }, 15);
my %before = map { $_->{id} => 1 } answers('sms');
# the second node's workers at work (they read the stream's figures)
$t2->wait_for(sub { ($t2->get('/status')->{content} // '')
                    =~ /^gov_events_appended_total [1-9]/m }, 10);
my @more = map { Time::HiRes::sleep(0.2); apply($_ % 2 ? $t : $t2) } 1 .. 6;
$t->wait_for(sub { !grep { step_state($_, 'cdc') ne 'received' } @more }, 15);
$t->wait_for(sub { all_taken('sms', 'step', 'correction_requested')
                   && all_taken('all') }, 15);

# the first node's workers frozen: the second alone reads the group
my @frozen = $t->worker_pids;
kill 'STOP', @frozen;
my @alone = map { apply($t2) } 1 .. 4;
$t->wait_for(sub { !grep { step_state($_, 'cdc') ne 'received' } @alone }, 15);
my $alone_taken = $t->wait_for(sub {
    all_taken('sms', 'step', 'correction_requested') }, 15);
kill 'CONT', @frozen;
push @more, @alone;

ok(!grep({ !$_ } @more), 'ten applications, through both nodes');
ok($alone_taken, 'with the first node frozen, the second delivered alone');
ok($t->wait_for(sub { all_taken('sms', 'step', 'correction_requested') }, 15),
   'their steps all reached the SMS target');
my %sent;
$sent{ $_->{id} }++ for grep { !$before{ $_->{id} } } answers('sms');
is(scalar keys %sent, 20, 'two steps each');
ok(!grep({ $_ != 1 } values %sent), 'each delivered once, by one node or the other');
my %by = map { my $text = $_->get('/status')->{content};
               ($_ == $t ? 'first' : 'second')
               => ($text =~ m{^gov_notify_delivered_total\{target="/internal/sms"\} (\d+)$}m
                   ? $1 : 0) } $t, $t2;
diag("SMS events delivered by node: first $by{first}, second $by{second}");
ok($by{second} >= 8, 'the second node delivered its share');
$t2->stop_nginx;
$t2->check_logs;

# --- Redis restarted: nothing lost --------------------------------------------------

mode('all', 'down');
my @last = map { apply() } 1 .. 3;
$t->wait_for(sub { !grep { step_state($_, 'cdc') ne 'received' } @last }, 10);
$t->wait_for(sub { (metric('gov_notify_pending', '/internal/all') // 0) >= 9 }, 5);
$t->stop_redis;
$t->start_redis(@aof);
is(scalar(grep { my $e = $_; grep { $e->{application} eq $_ } @last } events()),
   9, 'the stream kept by the AOF');
mode('all', 'up');
ok($t->wait_for(sub { all_taken('all') }, 30), 'every event delivered after the restart');
ok(in_order('all'), 'in order per application');

# consumers with nothing pending, idle for five claim_idle, are forgotten
# (a live worker with nothing to read among them: Redis 7.0 refreshes a
# consumer's idle time only when it is given entries); the next event
# makes its reader a consumer again
ok($t->wait_for(sub { !grep { $_->{name} eq 'gone:1' }
                        consumers('/internal/all') }, 15),
   'a consumer gone for 5 x claim_idle with nothing pending: forgotten');
my %seen = map { $_ => 1 } taken('all');
apply();
ok($t->wait_for(sub { grep { !$seen{$_} } taken('all') }, 10),
   'events after the forgetting: delivered');
ok(scalar(grep { $_->{name} =~ /:\d+$/ && $_->{name} ne 'gone:1' }
          consumers('/internal/all')) >= 1,
   'by a worker, a consumer again');

$t->done(allow => [ qr/exited on signal 9/ ]);
done_testing();
