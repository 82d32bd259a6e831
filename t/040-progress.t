#!/usr/bin/perl

# Progress lookups and ratings: who may look (the applicant as subject or
# actor, anyone with the query code, masked), 404 for everyone else, 401
# without either, 429 after repeated wrong codes, the document, ETags,
# ratings once finished (once only, 422 for a bad score), Redis down.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use GovTest;

# each department's receipt names it: nhc is the world's "dept"
sub receipts {
    my ($name) = @_;
    return sub {
        my ($req) = @_;
        my $app = decode_json($req->{body});
        return { status => 200,
                 body => encode_json({ receipt => "$name-$app->{id}" }) };
    };
}

my $t = GovTest->world(
    dept => receipts('NHC'), backends => { cdc => receipts('CDC') },
    http => <<'EOF', bundles => <<'EOF', server => <<'EOF');
    gov_calendar %%ROOT%%/conf/calendar/cn-2026.txt;
    gov_progress_cache zone=progress:32k ttl=5s;
EOF
    gov_material id_card "身份证";
    gov_field name "姓名";

    gov_item nhc {
        name "出生医学证明"; department "卫生健康委";
        backend /internal/dept; callback_secret_file dept.secret;
        materials id_card; fields name; time_limit 3;
    }

    gov_item cdc {
        name "预防接种证"; department "疾控中心";
        backend /internal/cdc; callback_secret_file dept.secret;
        fields name; time_limit 5;
    }

    gov_bundle newborn {
        name "新生儿出生一件事"; code NB; items nhc cdc; time_limit 10;
    }
EOF
    gov_auth_login_url /login;
    location = /gov/status { gov_status; }
EOF

my $citizen = '110101199001011234';
sub tok {
    my (%o) = @_;
    return $t->token(key => 'hs', alg => 'HS256', kid => 'h1', %o);
}
my $mine = tok(sub => $citizen, act => 'AGENT-7');
my $agent = tok(sub => 'AGENT-7');
my $other = tok(sub => '310101198505052345');

my $res = $t->post('/bundles/newborn/applications',
                   body => encode_json({ fields => { name => 'x' },
                                         materials => { id_card => 'r' } }),
                   headers => { Authorization => "Bearer $mine",
                                'Content-Type' => 'application/json' });
is($res->{status}, 201, 'an application submitted by an agent for a citizen');
my $id = $res->{json}{id};
my $code = $res->{json}{query_code};

sub look {
    my ($path, $token, %h) = @_;
    return $t->get($path, headers => {
        $token ? (Authorization => "Bearer $token") : (), %h });
}

# --- who may look -----------------------------------------------------------

$res = look("/progress/$id", tok(sub => $citizen));
is($res->{status}, 200, 'the citizen sees it');
my $doc = $res->{json};
is($doc->{id}, $id, 'id');
is($doc->{bundle}, 'newborn', 'bundle');
is($doc->{name}, decode_utf8('新生儿出生一件事'), 'name');
is($doc->{status}, 'processing', 'status');
is($doc->{applicant}, $citizen, 'the applicant, unmasked');
like($doc->{submitted_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/,
     'submitted_at in ISO 8601 with the zone');
like($doc->{deadline}, qr/^\d{4}-\d\d-\d\d$/, 'a deadline');
ok(JSON::PP::is_bool($doc->{overdue}) && !$doc->{overdue}, 'not overdue');
ok(JSON::PP::is_bool($doc->{warning}), 'warning is a boolean');
is($doc->{percent}, 20, 'percent from the steps');
is_deeply([ map { [ $_->{item}, $_->{state}, $_->{state_name},
                    $_->{department} ] } @{ $doc->{steps} } ],
          [ [ 'nhc', 'received', decode_utf8('已接件'),
              decode_utf8('卫生健康委') ],
            [ 'cdc', 'received', decode_utf8('已接件'),
              decode_utf8('疾控中心') ] ],
          'steps with Chinese state names and departments');
is($doc->{steps}[0]{receipt}, "NHC-$id", 'receipts');
ok(exists $doc->{rating} && !defined $doc->{rating}, 'no rating yet');

is(look("/progress/$id", $agent)->{status}, 200, 'the agent sees it');
is(look("/progress/$id", $other)->{status}, 404, 'another citizen: 404');
is(look("/progress/NB20260101999999", tok(sub => $citizen))->{status}, 404,
   'an unknown id: 404');
is(look("/progress/NB%2F..%2Fetc", tok(sub => $citizen))->{status}, 404,
   'an id with path characters: 404');
is(look("/progress/$id%0d%0aX", tok(sub => $citizen))->{status}, 404,
   'an id with control characters: 404');

$res = look("/progress/$id", undef);
is($res->{status}, 401, 'neither identity nor code: 401');
$res = look("/progress/$id", undef, Accept => 'text/html');
is($res->{status}, 302, 'a browser is sent to log in');
is($res->{headers}{location}, "/login?return_to=%2Fprogress%2F$id",
   'with return_to');

# --- the query code ------------------------------------------------------------

$res = look("/progress/$id?code=$code", undef);
is($res->{status}, 200, 'anyone with the query code sees it');
is($res->{json}{applicant}, '1101**********1234', 'with personal data masked');
is($res->{json}{steps}[0]{state}, 'received', 'and the steps');

$res = look("/progress/$id?code=$code", $other);
is($res->{status}, 200, 'another citizen with the code: masked too');
is($res->{json}{applicant}, '1101**********1234', 'masked');

for my $n (1 .. 5) {
    $res = look("/progress/$id?code=WRONG$n" . 'X', undef);
    is($res->{status}, 404, "wrong code $n: 404");
}
$res = look("/progress/$id?code=$code", undef);
is($res->{status}, 429, 'after five wrong codes even the right one: 429');
is(look("/progress/$id", tok(sub => $citizen))->{status}, 200,
   'the applicant is not locked out');
$t->redis_cmd('DEL', "gov:codefail:$id");

unlike($t->read_file('logs/access.log') . $t->error_log, qr/\Q$code\E/,
       'the query code reaches no log');

# --- ETag ------------------------------------------------------------------------

$res = look("/progress/$id", tok(sub => $citizen));
my $etag = $res->{headers}{etag};
like($etag, qr/^"[0-9a-f]{40}"$/, 'an ETag');
$res = look("/progress/$id", tok(sub => $citizen), 'If-None-Match' => $etag);
is($res->{status}, 304, 'If-None-Match: 304');
is(length($res->{content} // ''), 0, 'without a body');

# --- callbacks move it; ratings ------------------------------------------------------

my $nonce = 0;
sub callback {
    my ($item, $state) = @_;
    my $ts = time;
    $nonce++;
    return $t->callback($id, $item, qq({"state":"$state","note":"n$nonce"}),
                        ts => $ts);
}

sub rate {
    my ($body, $token) = @_;
    return $t->post("/progress/$id/rating", body => $body, headers => {
        Authorization => 'Bearer ' . ($token // tok(sub => $citizen)),
        'Content-Type' => 'application/json' });
}

is(rate('{"score":5}')->{status}, 409, 'rating before the end: 409');

is(callback('nhc', 'accepted')->{status}, 204, 'nhc accepted');
$res = look("/progress/$id", tok(sub => $citizen), 'If-None-Match' => $etag);
is($res->{status}, 200, 'a change: the old ETag no longer matches');
like($res->{json}{steps}[0]{deadline}, qr/^\d{4}-\d\d-\d\d$/,
     'an accepted step has a deadline');

is(callback('nhc', 'correction')->{status}, 204, 'nhc asks for a correction');
$res = look("/progress/$id", tok(sub => $citizen));
is($res->{json}{status}, 'attention', 'correction: attention');

is(callback('nhc', 'accepted')->{status}, 204, 'corrected');
is(callback('nhc', 'approved')->{status}, 204, 'nhc approved');
is(callback('cdc', 'accepted')->{status}, 204, 'cdc accepted');
is(callback('cdc', 'approved')->{status}, 204, 'cdc approved');
$res = look("/progress/$id", tok(sub => $citizen));
is($res->{json}{status}, 'done', 'all approved: done');
ok($res->{json}{rateable}, 'and rateable');

is(rate('{"score":6}')->{status}, 422, 'score 6: 422');
is(rate('{"score":0}')->{status}, 422, 'score 0: 422');
is(rate('{"score":"5"}')->{status}, 422, 'a string: 422');
is(rate('{"score":')->{status}, 400, 'malformed: 400');
is(rate('{"score":2,"comment":"等太久"}', $other)->{status}, 404,
   'another citizen cannot rate');
is(rate('{"score":2,"comment":"等太久"}')->{status}, 204, 'a rating: 204');
is(rate('{"score":5}')->{status}, 409, 'a second rating: 409');

$res = look("/progress/$id", tok(sub => $citizen));
is($res->{json}{rating}{score}, 2, 'the rating shows');
is($res->{json}{rating}{comment}, decode_utf8('等太久'), 'with its comment');
ok(!$res->{json}{rateable}, 'no longer rateable');

my $bad = $t->redis_cmd('LRANGE', 'gov:ratings:bad', 0, -1);
is(scalar @$bad, 1, 'a 差评 is kept for rectification');
is(decode_json($bad->[0])->{id}, $id, 'with the application id');

is($t->metrics->{'gov_ratings_total{score="2"}'}, 1,
   'ratings are counted by score');

# --- the micro-cache -----------------------------------------------------------------

my $hits = sub { $t->metrics->{'gov_cache_total{cache="progress",result="hit"}'}
                 // 0 };
my $h0 = $hits->();
look("/progress/$id", tok(sub => $citizen)) for 1 .. 5;
cmp_ok($hits->() - $h0, '>=', 4, 'hot lookups are served from shared memory');
is(look("/progress/$id", $other)->{status}, 404,
   'access is checked on every hit: another citizen gets 404');
is(look("/progress/$id", $agent)->{status}, 200, 'the agent too is checked');

# a change drops every cached copy at once, whatever the ttl
my $s2 = tok(sub => $citizen);
my $before = look("/progress/$id", $s2)->{json}{steps}[0]{state};
is($before, 'approved', 'cached: approved');
is(callback('nhc', 'delivered')->{status}, 204, 'nhc delivered');
is(look("/progress/$id", $s2)->{json}{steps}[0]{state}, 'delivered',
   'the next lookup sees the change at once');

# a second application, cached, then Redis goes away
$res = $t->post('/bundles/newborn/applications',
                body => encode_json({ fields => { name => 'y' },
                                      materials => { id_card => 'r' } }),
                headers => { Authorization => "Bearer $mine",
                             'Content-Type' => 'application/json' });
my $id2 = $res->{json}{id};
is(look("/progress/$id2", $s2)->{status}, 200, 'a second application');

# fill the small zone: the least recently used go, nothing fails (each
# looked up twice: the first lookup renders and writes the snapshot, whose
# report from Redis drops that entry; the second keeps the snapshot)
my @filled;
for my $k (1 .. 40) {
    my $r = $t->post('/bundles/newborn/applications',
                     body => encode_json({ fields => { name => "n$k" },
                                           materials => { id_card => 'r' } }),
                     headers => { Authorization => "Bearer $mine",
                                  'Content-Type' => 'application/json' });
    look("/progress/$r->{json}{id}", $s2);
    push @filled, $r->{json}{id};
}
look("/progress/$_", $s2) for @filled;
cmp_ok($t->metrics->{'gov_cache_evictions_total{cache="progress"}'} // 0,
       '>', 0, 'a full zone evicts the least recently used');

# --- Redis full (maxmemory, noeviction): writes refused, reads served -------

sub submit_as {
    my ($token, $name) = @_;
    return $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => { name => $name },
                                          materials => { id_card => 'r' } }),
                    headers => { Authorization => "Bearer $token",
                                 'Content-Type' => 'application/json' });
}

$res = submit_as($mine, 'before-full');
is($res->{status}, 201, 'an application stored before Redis fills up');
my $unseen = $res->{json}{id};
my $apps = scalar @{ $t->redis_cmd('KEYS', 'gov:app:*') };

$t->redis_cmd('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
$t->redis_cmd('CONFIG', 'SET', 'maxmemory', '1');
$res = submit_as($mine, 'while-full');
is($res->{status}, 503, 'Redis full: a submission is refused with 503');
is($res->{json}{error}, 'unavailable', 'with the contract body');
ok($res->{headers}{'retry-after'}, 'and Retry-After');
is(scalar @{ $t->redis_cmd('KEYS', 'gov:app:*') }, $apps,
   'nothing half-written');
$res = look("/progress/$unseen", $mine);
is($res->{status}, 200, 'Redis full: a lookup (not cached) is still served');
is($res->{json}{id}, $unseen, 'with the application');
$t->redis_cmd('CONFIG', 'SET', 'maxmemory', '0');
$res = submit_as($mine, 'after-full');
is($res->{status}, 201, 'room again: submissions are taken, without a reload');

look("/progress/$id2", $s2);
$t->stop_redis;
$res = look("/progress/$id2", $s2);
is($res->{status}, 200, 'Redis down: a cached document is still served');
$res = look("/progress/$id", $s2);
is($res->{status}, 503, 'Redis down and not cached: 503, never 500');
$res = look("/progress/$id2?code=ABCDEFGH", undef);
is($res->{status}, 503, 'Redis down: code lookups (never cached) 503');

$t->done;
done_testing();
