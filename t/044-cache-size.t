#!/usr/bin/perl

# The micro-cache holds what its size promises (issue #38): entries are
# laid out to the slab allocator's sizes (core/gov_pieces.c), not rounded
# up to a power of two, so a zone of S bytes holds at least 0.85 x S /
# (document + bookkeeping) documents of 0.5-4 kB; gov_status says how many
# it holds and the bytes they take; every document read back whole.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;

my $t = GovTest->new;

# a bundle of one item (a small document) and one of eight (a large one)
my @items = map { "i$_" } 1 .. 8;
my $bundles = join '', map {
    "    gov_item $_ { name \"事项${_}的很长很长的名称\"; department \"某某市某某局\";\n"
  . "                 backend /internal/dept; callback_secret_file dept.secret;\n"
  . "                 fields name; time_limit 5; }\n" } @items;
$bundles .= "    gov_field name \"姓名\";\n"
          . "    gov_bundle one { name \"一\"; code ON; items i1; time_limit 5; }\n"
          . "    gov_bundle eight { name \"八\"; code EI; items @items;"
          . " time_limit 9; }\n";

$t->world(bundles => $bundles, workers => 1,
          http => "    gov_progress_cache zone=pc:1m ttl=10m track=off;\n",
          server => "    location = /gov/status { gov_status; }\n");

my %h = ('Content-Type' => 'application/json',
         Authorization => 'Bearer ' . $t->citizen);

sub cached {
    my $m = $t->metrics;
    return map { $m->{"$_\{cache=\"progress\"}"} // 0 }
           qw(gov_cache_entries gov_cache_used_bytes gov_cache_size_bytes
              gov_cache_evictions_total);
}

my ($e0, $u0, $size) = cached();
is($size, 1024 * 1024, 'gov_status: the zone is 1m');
is($e0, 0, '... empty');

for my $bundle (qw(one eight)) {
    # more documents than the zone holds: it fills, then evicts
    my (@ids, %docs, $len);
    my $n = $bundle eq 'one' ? 1400 : 500;
    for my $i (1 .. $n) {
        my $r = $t->post("/bundles/$bundle/applications",
                         body => encode_json({ fields => { name => "张$i" } }),
                         headers => \%h);
        push @ids, $r->{json}{id};
    }
    for my $id (@ids) {
        my $r = $t->get("/progress/$id", headers => \%h);
        $docs{$id} = $r->{content};
        $len = length $r->{content};
    }
    my ($entries, $used, undef, $evicted) = cached();
    my $per = $used / ($entries || 1);

    # bookkeeping: the entry's header, the id, the applicant, the ETag
    my $want = int(0.85 * $size / ($len + 200));
    cmp_ok($entries, '>=', $want,
           sprintf('%s: %d-byte documents, %d held (>= %d: 0.85 x the zone '
                   . '/ (document + 200))', $bundle, $len, $entries, $want));
    cmp_ok($evicted, '>', 0, '... the zone full: the oldest evicted');
    cmp_ok($per, '<=', 1.15 * ($len + 200),
           sprintf('... %.0f bytes an entry in its pieces', $per));
    cmp_ok($used, '<=', $size, '... within the zone');

    # the last ones are cached: read back whole, from the cache
    my @last = @ids[-20 .. -1];
    my @bad = grep { $t->get("/progress/$_", headers => \%h)->{content}
                     ne $docs{$_} } @last;
    is(scalar @bad, 0, '... the last 20 read back whole');
    diag(sprintf('%s: document %d bytes, entry %.0f, held %d in 1m',
                 $bundle, $len, $per, $entries));
}

$t->done;
done_testing();
