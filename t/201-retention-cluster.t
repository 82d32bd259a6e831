#!/usr/bin/perl

# Retention and the archive on Redis Cluster (CONTRACT sections 14, 16):
# three masters, eight shards; applications of four citizens, each with an
# uploaded file, spread over the shards.  Final and due (nginx's clock
# moved), every shard's sweep sends them to the archive; each leaves its
# shard once acknowledged, its upload no longer named goes idle and the
# upload sweeper deletes the file after keep_unused; the one not final
# stays; every one that left is read back from the archive.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use GovTest;

my $SHARDS = 8;
my $day = 86400;

my $t = GovTest->new;
$t->fake_time(time);
mkdir $t->prefix . '/store';
$t->write_file('conf/link.secret', "link-secret-0123456789abcdef0123456789\n");
$t->archive_service;

my $masters = $t->start_cluster(masters => 3, replicas => 0);

my ($http, $archive) = $t->retention_conf('finished=30d');

$t->world(redis => 0, workers => 2,
          redis_line => "    gov_redis cluster=$masters shards=$SHARDS "
                        . "timeout=2s;\n",
          http => $http . <<'EOF', server => $archive . <<'EOF');
    gov_upload_store %%PREFIX%%/store max_size=64k keep_unused=1s;
    gov_upload_link_secret_file %%PREFIX%%/conf/link.secret;
EOF
    location /uploads/ { gov_upload; }
    location = /gov/health { gov_health; }
    location = /gov/status { gov_status; }
EOF

ok($t->wait_for(sub { $t->get('/gov/health')->{status} == 200 }, 10),
   'the cluster map is learnt');

sub tag { '{gov:' . (substr($_[0], -6) % $SHARDS) . '}' }
sub on { my ($key, @cmd) = @_; $t->cluster_cmd($key, @cmd) }

my (@apps, %shards);
for my $n (1 .. 4) {
    my $sub = sprintf '1101011990010%05d', $n;
    my %a = $t->bearer(sub => $sub, ttl => 100 * $day);
    my $pdf = "%PDF-1.4\n" . ("citizen $n " x 50) . "\n%%EOF\n";
    my $res = $t->post('/uploads/', body => $pdf,
                       headers => { %a, 'Content-Type' => 'application/pdf' });
    is($res->{status}, 201, "citizen $n uploads a file");
    my $hex = sha256_hex($pdf);
    $res = $t->apply({ fields => { name => "王$n" },
                       materials => { photo => "upload:$hex" } },
                     headers => \%a);
    is($res->{status}, 201, "citizen $n applies");
    my $id = $res->{json}{id};
    push @apps, { id => $id, auth => \%a, hex => $hex, sub => $sub };
    $shards{ tag($id) }++;
}
cmp_ok(scalar keys %shards, '>=', 2, 'in ' . (keys %shards) . ' shards');

for my $ap (@apps) {
    my $key = tag($ap->{id}) . "steps:$ap->{id}";
    ok($t->wait_for(sub { (on($key, 'HGET', $key, 'nhc') // '') =~ /received/ },
                    10), "$ap->{id} received");
}

# the last one stays open
my $open = $apps[-1];
for my $ap (@apps) {
    my @states = $ap == $open ? ('accepted') : qw(accepted approved);
    for my $s (@states) {
        is($t->callback($ap->{id}, 'nhc', { state => $s }, ts => $t->now)
             ->{status}, 204, "$ap->{id}: $s");
    }
}

for my $ap (@apps) {
    my $fin = tag($ap->{id}) . 'final';
    my $in = defined on($fin, 'ZSCORE', $fin, $ap->{id});
    ok($ap == $open ? !$in : $in,
       "$ap->{id} " . ($ap == $open ? 'is not' : 'is')
       . ' kept for retention in its shard');
}

$t->fake_time(time + 31 * $day);

for my $ap (@apps) {
    my $key = tag($ap->{id}) . "app:$ap->{id}";
    if ($ap == $open) {
        sleep 2;
        is(on($key, 'EXISTS', $key), 1, "$ap->{id}, open, stays");
        next;
    }
    ok($t->wait_for(sub { !on($key, 'EXISTS', $key) }, 20),
       "$ap->{id} left its shard");
    my $up = tag($ap->{id}) . "up:$ap->{hex}";
    ok($t->wait_for(sub { !on($up, 'EXISTS', $up) }, 10),
       '  its upload, no longer named, was swept');
    my $user = tag($ap->{id}) . "user:$ap->{sub}";
    is(on($user, 'ZSCORE', $user, $ap->{id}), undef,
       '  it left the citizen\'s list');
    my $res = $t->get("/progress/$ap->{id}", headers => $ap->{auth});
    is($res->{status}, 200, '  read back from the archive');
    is($res->{json}{id}, $ap->{id}, '  the same');
}

my ($docs) = $t->archived;
is_deeply([ sort keys %$docs ],
          [ sort map { $_->{id} } grep { $_ != $open } @apps ],
          'the archive holds those that left, once each');
cmp_ok($t->metrics->{gov_applications_archived_total}, '==', @apps - 1,
       'counted');
ok(-d $t->prefix . '/store', 'the store is still there');
my @files = grep { -f } glob $t->prefix . '/store/s*/*/*/*';
my %left = map { m{/([0-9a-f]{64})$} ? ($1 => 1) : () } @files;
ok(!$left{ $apps[0]{hex} }, 'the first one\'s file is deleted');
ok($left{ $open->{hex} }, 'the open one\'s file is kept');

$t->done;
done_testing();
