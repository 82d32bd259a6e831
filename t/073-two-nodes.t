#!/usr/bin/perl

# Two nginx nodes on one Redis behave as one (CONTRACT section 14): ids
# from both are distinct and in one sequence, an Idempotency-Key sent to
# one node and again to the other makes one application, the query-code
# guessing limit counts wrong codes from both, a step queued by one node is
# delivered by the other once the first is gone, and the micro-cache of one
# node (per node, in its shared memory) shows another node's change within
# its ttl.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;

my $a = GovTest->new;
my $down = $a->prefix . '/dept-down';
$a->write_file($down, '1');

$a->world(
    dept => sub {
        my ($req) = @_;
        return { status => 503, body => '{}' } if -e $down;
        return { status => 200, body => encode_json({ receipt => 'R-1' }) };
    },
    http => "    gov_progress_cache zone=progress:1m ttl=1s;\n");

# node B: its own prefix and port, node A's Redis, department and keys
my $b = $a->node;

my $token = $a->citizen;
my %auth = (Authorization => "Bearer $token");

sub submit {
    my ($node, %h) = @_;
    return $node->post('/bundles/newborn/applications',
                       body => encode_json({ fields => { name => '王小宝' },
                                             materials => { photo => 'r' } }),
                       headers => { 'Content-Type' => 'application/json',
                                    %auth, %h });
}

# --- ids: one sequence ---------------------------------------------------------

my (%seen, @ids);
for my $i (1 .. 10) {
    my $res = submit($i % 2 ? $a : $b);
    is($res->{status}, 201, 'submission ' . $i . ' on node ' . ($i % 2 ? 'A' : 'B'));
    push @ids, $res->{json}{id};
    $seen{ $res->{json}{id} }++;
}
is(scalar keys %seen, 10, 'ten distinct ids from the two nodes');
my @seq = sort map { substr $_, -6 } @ids;
is($seq[-1] - $seq[0], 9, 'in one sequence, without gaps');

# --- one Idempotency-Key, two nodes ------------------------------------------

my $before = $a->redis_cmd('ZCARD', 'gov:user:110101199001011234');
my $ra = submit($a, 'Idempotency-Key' => 'same-key-1');
my $rb = submit($b, 'Idempotency-Key' => 'same-key-1');
is($ra->{status}, 201, 'a keyed submission on node A');
is($rb->{status}, 201, 'the same again on node B');
is($rb->{json}{id}, $ra->{json}{id}, '... answers the same application');
is($a->redis_cmd('ZCARD', 'gov:user:110101199001011234'), $before + 1,
   '... and only one was made');

# --- the guessing limit counts both nodes -----------------------------------

my $id = $ra->{json}{id};
my $code = $ra->{json}{query_code};
for my $n (1 .. 5) {
    my $node = $n % 2 ? $a : $b;
    is($node->get("/progress/$id?code=WRONG${n}X")->{status}, 404,
       "wrong code $n on node " . ($n % 2 ? 'A' : 'B'));
}
is($a->get("/progress/$id?code=$code")->{status}, 429,
   'after five wrong codes on two nodes, even the right one: 429 on A');
is($b->get("/progress/$id?code=$code")->{status}, 429, '... and on B');
$a->redis_cmd('DEL', "gov:codefail:$id");

# --- the micro-cache of one node sees another's change within its ttl ------

my $r = $a->get("/progress/$id", headers => \%auth);
is($r->{json}{steps}[0]{state}, 'queued', 'node A: queued (and cached)');

unlink $down;
ok($a->wait_for(sub {
    $b->get("/progress/$id", headers => \%auth)->{json}{steps}[0]{state}
        eq 'received' }, 15),
   'the retry queue delivered the step (either node)');

is($b->callback($id, 'nhc', { state => 'accepted' })->{status}, 204,
   'a department tells node B');
my $t0 = time;
ok($a->wait_for(sub {
    $a->get("/progress/$id", headers => \%auth)->{json}{steps}[0]{state}
        eq 'accepted' }, 3),
   'node A shows it within its micro-cache ttl (' . (time - $t0) . 's)');

# --- a step queued by node A, delivered by node B once A is gone -------------

$a->write_file($down, '1');
my $res = submit($a);
is($res->{status}, 201, 'a submission on node A, its department down');
my $late = $res->{json}{id};
is($res->{json}{steps}[0]{state}, 'queued', '... queued');
$a->stop_nginx;
unlink $down;

ok($b->wait_for(sub {
    $b->get("/progress/$late", headers => \%auth)->{json}{steps}[0]{state}
        eq 'received' }, 15),
   'node B delivered the step node A had queued');
my @got = grep { ($_->{headers}{'x-gov-application'} // '') eq $late }
          $a->backend_requests('dept');
cmp_ok(scalar @got, '>=', 2, 'the department was tried, then reached');

$b->done;
$a->done;
done_testing();
