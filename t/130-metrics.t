#!/usr/bin/perl

# gov_status as Prometheus users expect (issue #22, item 5): after a little
# of everything (tokens accepted and refused, a submission, a lookup, a
# callback, events delivered), the page passes "promtool check metrics"
# with nothing to say.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;

# make test installs it (TEST_DEPS)
my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
BAIL_OUT('promtool is missing: apt-get install prometheus') unless $promtool;

my $t = GovTest->world(
    start => 0,
    dept => sub {
        my ($req) = @_;
        # an application for 失败 finds the department down
        return { status => 503, body => 'down' }
            if ($req->{body} // '') =~ /\x{5931}\x{8d25}|\xe5\xa4\xb1\xe8\xb4\xa5/;
        return { status => 200, body => encode_json({ receipt => 'R-1' }) };
    },
    backends => { sms => sub { return { status => 204, body => '' } } },
    http => <<'EOF', server => <<'EOF');
    gov_progress_cache zone=progress:1m;
    gov_queue_zone peak rate=1/m;
    gov_events;
    gov_notify /internal/sms;
EOF
    location /p/ { gov_auth required; }
    location /q/ { gov_queue peak; }
    location = /status { gov_status; }
EOF
$t->write_file('html/p/ok.txt', "ok\n");
$t->write_file('html/q/ok.txt', "ok\n");
$t->start_nginx;

my $token = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234');
my %auth = (Authorization => "Bearer $token");

is($t->get('/p/ok.txt', headers => \%auth)->{status}, 200, 'a token accepted');
is($t->get('/q/ok.txt')->{status}, 200, 'the waiting room lets one in');
is($t->get('/q/ok.txt')->{status}, 429, '... and gives the next a ticket');
is($t->get('/p/ok.txt', headers => { Authorization => 'Bearer x.y.z' })
       ->{status},
   401, 'a token refused');

my $res = $t->post('/bundles/newborn/applications',
                   body => encode_json({ fields => { name => '王小宝' },
                                         materials => { photo => 'r' } }),
                   headers => { 'Content-Type' => 'application/json',
                                %auth });
is($res->{status}, 201, 'an application');
my $id = $res->{json}{id};

ok($t->wait_for(sub {
       ($t->get("/progress/$id", headers => \%auth)->{json}{steps}[0]{state}
        // '') eq 'received' }, 10), 'dispatched');
is($t->get("/progress/$id", headers => \%auth)->{status}, 200, 'looked up');

is($t->callback($id, 'nhc', { state => 'accepted' })->{status}, 204,
   'a callback');

ok($t->wait_for(sub {
       $t->get('/status')->{content}
           =~ /^gov_notify_delivered_total\{target="\/internal\/sms"\} [1-9]/m
   }, 10), 'events delivered');

# the backlog: a department down keeps a step in the retry queue
$res = $t->post('/bundles/newborn/applications',
                body => encode_json({ fields => { name => '失败' },
                                      materials => { photo => 'r' } }),
                headers => { 'Content-Type' => 'application/json', %auth });
is($res->{status}, 201, 'an application its department cannot take');
ok($t->wait_for(sub { ($t->metrics('/status')->{gov_retry_queued} // 0) >= 1 },
                15), 'gov_retry_queued counts its step');
my $m = $t->metrics('/status');
is($m->{gov_steps_overdue}, 0, 'gov_steps_overdue: none yet');
ok(defined $m->{gov_retry_due}, 'gov_retry_due is there');

my $text = $t->get('/status')->{content};
$t->write_file('status.txt', $text);
my $out = `$promtool check metrics < ${\ $t->prefix}/status.txt 2>&1`;
like($text, qr/^gov_queue_admitted_total\{zone="peak"\} 1\n/m,
     'the waiting room\'s figures are there');
like($text, qr/^gov_queue_waiting\{zone="peak"\} 1\n/m, '... the line');
is($?, 0, 'promtool check metrics: passes');
is($out, '', 'and has nothing to say') or diag($out);

$t->done;
done_testing();
