#!/usr/bin/perl

# gov_redis cluster= (CONTRACT section 14, Redis Cluster): nginx -t refuses
# what does not go together; a server that is no cluster is said so and
# answered 503; on a loopback cluster of three masters every flow works as
# on one Redis — uploads, submissions spread over shards on every master,
# dispatch, the department's signed link, callbacks, ratings, a withdrawal,
# events for a notification target, the statistics and the bad-ratings list
# added up over the shards — and each application's keys sit in its
# shard's slot; a master down with no replica takes the cluster down: 503
# with Retry-After, never 500, and service comes back with the master.
# Resharding and failover under traffic: t/181-cluster-drill.t.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use GovTest;
use Time::HiRes qw(sleep time);

my $t = GovTest->new;
my $link_secret = 'link-secret-0123456789abcdef0123456789';
$t->write_file('conf/link.secret', "$link_secret\n");
mkdir $t->prefix . '/store';

my $SHARDS = 8;

$t->world(
    redis => 0, start => 0,
    dept => sub {
        my ($req) = @_;
        my $id = $req->{headers}{'x-gov-application'} // '';
        return { status => 200, body => encode_json({ receipt => "R-$id" }) };
    },
    backends => { sms => sub { return { status => 200, body => '' } } },
    http => <<'EOF', server => <<'EOF');
    gov_events;
    gov_notify /internal/sms events=submitted,step,withdrawn;
    gov_upload_store %%PREFIX%%/store max_size=64k;
    gov_upload_link_secret_file %%PREFIX%%/conf/link.secret;
EOF
    location /uploads/ { gov_upload; }
    location /stats/ { gov_stats; }
    location = /gov/health { gov_health; }
    location = /gov/status { gov_status; }
EOF

# the world's configuration with gov_redis $redis (and a prefix)
sub conf {
    my ($redis, %o) = @_;
    $t->write_world(redis_line => ($o{prefix}
                                   ? "    gov_redis_prefix \"$o{prefix}\";\n"
                                   : '')
                                  . "    gov_redis $redis timeout=2s;\n");
}

# --- nginx -t -----------------------------------------------------------------------

for my $bad ([ 'cluster=', qr/invalid cluster node address|names no cluster node/ ],
             [ 'cluster=127.0.0.1:99999', qr/invalid cluster node address/ ],
             [ 'cluster=127.0.0.1:7000 db=2',
               qr/"db=" of gov_redis cannot go with "cluster="/ ],
             [ 'cluster=127.0.0.1:7000 shards=0', qr/invalid redis shards/ ],
             [ 'cluster=127.0.0.1:7000 shards=5000', qr/must be from 1 to 4096/ ],
             [ '127.0.0.1:6379 shards=4',
               qr/"shards=" of gov_redis needs "cluster="/ ]) {
    conf($bad->[0]);
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t refuses gov_redis $bad->[0]");
    like($out, $bad->[1], '... saying why');
}
conf('cluster=127.0.0.1:7000', prefix => 'gov{x}:');
my ($rc, $out) = $t->test_conf;
isnt($rc, 0, 'nginx -t refuses a prefix with a brace in a cluster');
like($out, qr/no "\{" or "\}" \(the prefix goes inside a hash tag\)/,
     '... saying why');
$t->write_file('logs/error.log', '');

# --- a server that is no cluster -----------------------------------------------------

$t->start_redis;
conf('cluster=127.0.0.1:' . $t->redis_port);
$t->start_nginx;
my %auth = $t->bearer(sub => '110101199001011234');
ok($t->wait_for(sub { $t->error_log =~ /is no Redis Cluster/ }, 10),
   'a single Redis named as a cluster is logged');
like($t->error_log, qr/cluster support disabled/, '... with what it said');
my $res = $t->get('/gov/health');
is($res->{status}, 503, '... health 503');
$res = $t->get('/progress/NB20261202000017', headers => \%auth);
is($res->{status}, 503, '... a lookup 503');
ok($res->{headers}{'retry-after'}, '... with Retry-After');
$t->stop_nginx;
$t->stop_redis;
$t->write_file('logs/error.log', '');

# --- a cluster of three masters ----------------------------------------------------

# kept on disk: the master killed below comes back with its data
my $masters = $t->start_cluster(masters => 3, replicas => 0,
                                args => [ '--appendonly', 'yes' ]);
conf("cluster=$masters shards=$SHARDS");
$t->start_nginx;
ok($t->wait_for(sub { $t->get('/gov/health')->{status} == 200 }, 10),
   'the cluster map is learnt');
like($t->error_log, qr/cluster map learnt, 3 masters/, '... three masters');

sub key_of { my ($id, $kind) = @_; '{gov:' . (substr($id, -6) % $SHARDS) . "}$kind:$id" }

my (@apps, %owner_of, %masters_used, %hexes);
for my $n (1 .. 12) {
    my $sub = sprintf '1101011990010%05d', $n;
    my %a = $t->bearer(sub => $sub);
    my $pdf = "%PDF-1.4\n" . ("citizen $n " x 50) . "\n%%EOF\n";
    $res = $t->post('/uploads/', body => $pdf,
                    headers => { %a, 'Content-Type' => 'application/pdf' });
    is($res->{status}, 201, "citizen $n uploads a file") or diag $res->{content};
    my $hex = sha256_hex($pdf);
    $res = $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => { name => "王$n" },
                                          materials => { photo => "upload:$hex" } }),
                    headers => { %a, 'Content-Type' => 'application/json' });
    is($res->{status}, 201, "citizen $n submits") or diag $res->{content};
    my $id = $res->{json}{id} // next;
    like($id, qr/^NB\d{8}\d{6}$/, "... an id of the contract's form ($id)");
    push @apps, { id => $id, auth => \%a, sub => $sub, hex => $hex,
                  pdf => $pdf };
    my $node = $t->cluster_owner(key_of($id, 'app'));
    $masters_used{$node}++;
    is($t->cluster_cmd(key_of($id, 'app'), 'EXISTS', key_of($id, 'app')), 1,
       "... its keys in the shard its id names, on $node");
    is($t->cluster_cmd(key_of($id, 'app'), 'HGET',
                       '{gov:' . (substr($id, -6) % $SHARDS) . "}up:$hex",
                       'refs'), 1, '... beside its upload, counted');
}
cmp_ok(scalar keys %masters_used, '>=', 2,
       'the applications are spread over ' . (keys %masters_used)
       . ' masters');

# the same citizen again: the same shard
{
    my $a0 = $apps[0];
    $res = $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => { name => '王1' },
                                          materials => { photo => "upload:$a0->{hex}" } }),
                    headers => { %{ $a0->{auth} }, 'Content-Type' => 'application/json',
                                 'Idempotency-Key' => 'again-1' });
    is($res->{status}, 201, 'a citizen\'s second application');
    is(substr($res->{json}{id}, -6) % $SHARDS, substr($a0->{id}, -6) % $SHARDS,
       '... in the same shard as the first');
    my $again = $t->post('/bundles/newborn/applications',
                         body => encode_json({ fields => { name => '王1' },
                                               materials => { photo => "upload:$a0->{hex}" } }),
                         headers => { %{ $a0->{auth} }, 'Content-Type' => 'application/json',
                                      'Idempotency-Key' => 'again-1' });
    is($again->{json}{id}, $res->{json}{id}, '... its Idempotency-Key holds');
    push @apps, { %$a0, id => $res->{json}{id} };
}

# someone else's upload: unknown, whatever the shard
$res = $t->post('/bundles/newborn/applications',
                body => encode_json({ fields => { name => 'x' },
                                      materials => { photo => "upload:$apps[1]{hex}" } }),
                headers => { %{ $apps[0]{auth} }, 'Content-Type' => 'application/json' });
is($res->{status}, 422, 'another citizen\'s upload: 422');

# --- dispatch, links, callbacks ---------------------------------------------------

ok($t->wait_for(sub {
    my %seen = map { ($_->{headers}{'x-gov-application'} // '') => 1 }
               $t->backend_requests('dept');
    !grep { !$seen{ $_->{id} } } @apps }, 15),
   'every application reached its department');
my %count;
$count{ $_->{headers}{'x-gov-application'} }++ for $t->backend_requests('dept');
is_deeply([ grep { $count{ $_->{id} } != 1 } @apps ], [], '... each once');

my ($sent) = grep { ($_->{headers}{'x-gov-application'} // '') eq $apps[3]{id} }
             $t->backend_requests('dept');
my $m = decode_json($sent->{body})->{materials}{photo};
like($m->{url}, qr{^/uploads/$apps[3]{hex}\?expires=\d+&sig=[0-9a-f]{64}$},
     'the department gets a signed link');
$res = $t->get($m->{url});
is($res->{status}, 200, '... which any node serves, whatever the shard');
is($res->{content}, $apps[3]{pdf}, '... with the bytes');
$res = $t->get("/uploads/$apps[3]{hex}", headers => $apps[3]{auth});
is($res->{content}, $apps[3]{pdf}, 'the owner gets the file');
$res = $t->get("/uploads/$apps[3]{hex}", headers => $apps[4]{auth});
is($res->{status}, 404, '... another citizen 404');

sub callback {
    my ($id, $item, $state) = @_;
    return $t->callback($id, $item,
                        { state => $state, nonce => int rand 1e9 });
}

my %op = $t->bearer(sub => 'OP-1', claims => '{"role":"operator"}');
for my $i (0 .. 5) {
    my $a = $apps[$i];
    is(callback($a->{id}, 'nhc', 'accepted')->{status}, 204,
       "$a->{id}: accepted");
    is(callback($a->{id}, 'nhc', 'approved')->{status}, 204, '... approved');
    $res = $t->post("/progress/$a->{id}/rating",
                    body => encode_json({ score => $i < 3 ? 1 : 5 }),
                    headers => { %{ $a->{auth} }, 'Content-Type' => 'application/json' });
    is($res->{status}, 204, '... rated');
}
$res = $t->get("/progress/$apps[0]{id}", headers => $apps[0]{auth});
is($res->{json}{steps}[0]{state}, 'approved', 'the lookup shows the callback');

$res = $t->post("/progress/$apps[7]{id}/withdrawal",
                body => encode_json({ reason => '不办了' }),
                headers => { %{ $apps[7]{auth} }, 'Content-Type' => 'application/json' });
is($res->{status}, 200, 'a withdrawal') or diag $res->{content};

# --- statistics, the bad ratings, events, all shards -----------------------------

ok($t->wait_for(sub {
    my $r = $t->get('/stats/');
    my ($nb) = grep { $_->{id} eq 'newborn' } @{ $r->{json}{bundles} || [] };
    $nb && $nb->{applications} == @apps && $nb->{ratings} == 6 }, 10),
   'the statistics add every shard up: ' . scalar(@apps)
   . ' applications, 6 ratings');
$res = $t->get('/stats/');
my ($nb) = grep { $_->{id} eq 'newborn' } @{ $res->{json}{bundles} };
is($nb->{finished}, 6, '... 6 finished');
is($nb->{withdrawn}, 1, '... 1 withdrawn');

$res = $t->get('/stats/ratings/', headers => \%op);
is($res->{status}, 200, 'the bad ratings list');
is_deeply([ sort map { $_->{id} } @{ $res->{json}{ratings} } ],
          [ sort map { $_->{id} } @apps[0 .. 2] ],
          '... every shard\'s');
my @at = map { $_->{at} } @{ $res->{json}{ratings} };
is_deeply(\@at, [ sort @at ], '... oldest first');

ok($t->wait_for(sub {
    my %sub = map { (decode_json($_->{body})->{application} // '') => 1 }
              grep { (decode_json($_->{body})->{type} // '') eq 'submitted' }
              $t->backend_requests('sms');
    !grep { !$sub{ $_->{id} } } @apps }, 15),
   'the notification target hears every shard\'s submissions');
my %ev;
$ev{ $_->{headers}{'x-gov-event-id'} }++ for $t->backend_requests('sms');
is_deeply([ grep { $ev{$_} > 1 } keys %ev ], [], '... each event once');

my $metrics = $t->get('/gov/status')->{content};
like($metrics, qr/gov_redis_redirects_total\{kind="moved"\} \d+/,
     'gov_status counts redirections');

# --- a slot moved by hand: ASK while it moves, MOVED once it has -----------------

{
    my $a = $apps[2];
    my $shard = substr($a->{id}, -6) % $SHARDS;
    my $key = key_of($a->{id}, 'app');
    my $src = $t->cluster_owner($key);
    my ($dst) = grep { $_ ne $src } $t->cluster_masters;
    my $slot = $t->redis_cmd({ name => $src }, 'CLUSTER', 'KEYSLOT', $key);
    my $sid = $t->redis_cmd({ name => $src }, 'CLUSTER', 'MYID');
    my $did = $t->redis_cmd({ name => $dst }, 'CLUSTER', 'MYID');
    my $asks = sub {
        my ($v) = $t->get('/gov/status')->{content}
                  =~ /gov_redis_redirects_total\{kind="ask"\} (\d+)/;
        $v // 0;
    };
    my $before = $asks->();

    # a lookup keeps a snapshot (doc:ID): one key, read on the next lookup
    my $doc = '{gov:' . $shard . "}doc:$a->{id}";
    ok($t->wait_for(sub {
        $t->get("/progress/$a->{id}", headers => $a->{auth});
        $t->cluster_cmd($doc, 'EXISTS', $doc) == 1 }, 10),
       'a lookup left its snapshot');

    # as redis-cli --cluster reshard does it, stopped before the end
    is($t->redis_cmd({ name => $dst }, 'CLUSTER', 'SETSLOT', $slot,
                     'IMPORTING', $sid), 'OK', "slot $slot importing on $dst");
    is($t->redis_cmd({ name => $src }, 'CLUSTER', 'SETSLOT', $slot,
                     'MIGRATING', $did), 'OK', "... migrating on $src");
    my $keys = $t->redis_cmd({ name => $src }, 'CLUSTER', 'GETKEYSINSLOT',
                             $slot, 10000);
    is($t->redis_cmd({ name => $src }, 'MIGRATE', '127.0.0.1',
                     $t->redis_port($dst), '', 0, 5000, 'KEYS', @$keys),
       'OK', 'every key of the shard moved (' . scalar(@$keys) . ')');

    $res = $t->get("/progress/$a->{id}", headers => $a->{auth});
    is($res->{status}, 200, 'a lookup while the slot is moving: 200');
    is($res->{json}{id}, $a->{id}, '... the application');
    cmp_ok($asks->(), '>', $before, '... through ASK (the gov_status count)');

    for my $n ($src, $dst) {
        $t->redis_cmd({ name => $n }, 'CLUSTER', 'SETSLOT', $slot, 'NODE',
                      $did);
    }
    $res = $t->get("/progress/$a->{id}", headers => $a->{auth});
    is($res->{status}, 200, 'the slot moved: the lookup follows MOVED');
    is($t->cluster_owner($key), $dst, "... to $dst");
    is(callback($a->{id}, 'nhc', 'delivered')->{status}, 204,
       'a callback changes it there');
}

# --- a master down, no replica: the cluster is down -------------------------------

my $victim = $t->cluster_owner(key_of($apps[0]{id}, 'app'));
$t->stop_redis($victim);
ok($t->wait_for(sub {
    my ($live) = grep { $_ ne $victim } @{ $t->{cluster} };
    my $i = eval { $t->redis_cmd({ name => $live }, 'CLUSTER', 'INFO') } // '';
    $i =~ /cluster_state:fail/ }, 15), 'a master killed: the cluster is down');

my (%st, $no_ra);
for my $a (@apps) {
    my $r = $t->get("/progress/$a->{id}", headers => $a->{auth});
    $st{ $r->{status} }++;
    $no_ra++ if $r->{status} == 503 && !$r->{headers}{'retry-after'};
}
is_deeply([ sort keys %st ], [ 503 ], 'every lookup 503, none 500')
    or diag explain \%st;
ok(!$no_ra, '... each with Retry-After');
$res = $t->post('/bundles/newborn/applications',
                body => encode_json({ fields => { name => 'x' },
                                      materials => { photo => 'r' } }),
                headers => { %{ $apps[5]{auth} }, 'Content-Type' => 'application/json' });
is($res->{status}, 503, 'a submission 503');

$t->start_redis(%{ $t->{redis}{$victim}{opts} }, name => $victim);
ok($t->wait_cluster(20), 'the master back: the cluster is up');
ok($t->wait_for(sub {
    !grep { $t->get("/progress/$_->{id}", headers => $_->{auth})->{status} != 200 }
    @apps }, 15), 'every application is looked up again');

$t->done(allow => [ qr/gov redis: / ]);
done_testing();
