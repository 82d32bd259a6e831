#!/usr/bin/perl

# Bodies as browsers and departments send them, over HTTP/1.1 and HTTP/2
# (HTTPS, curl --http2), in one loop over protocols: uploads of 1, 5 and
# 15 MB, chunked under and over max_size, twenty at once on one HTTP/2
# connection, a client that stops mid-body; JSON and urlencoded bodies
# (Chinese text) at their limit and one byte over, in nginx's memory and
# in its temporary file, for submissions, corrections, supplements,
# withdrawals and callbacks; every 503 with Retry-After.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use File::Find;
use Encode qw(encode_utf8);
use GovTest;

my $t = GovTest->new(tls => 1);
$t->write_file('conf/link.secret', "link-secret-0123456789abcdef0123456789\n");
my $store = $t->prefix . '/store';
mkdir $store or die "mkdir $store: $!\n";

# nhc asks for 24 optional fields of up to 1,024 characters each, so that
# a valid submission reaches the body limits
my @f = map { sprintf 'f%02d', $_ } 1 .. 24;
my $fields = join '', map { "    gov_field $_ \"说明$_\" optional;\n" } @f;
$t->world(tls => 1, http => <<'EOF', server => <<'EOF',
    gov_upload_store %%PREFIX%%/store max_size=20m keep_unused=1h;
    gov_upload_link_secret_file %%PREFIX%%/conf/link.secret;
EOF
    client_max_body_size 32m;
    location /uploads/ { gov_upload; }
EOF
          bundles => <<"EOF");
    gov_material photo "照片" tolerable=5;
    gov_field name "姓名";
    gov_field note "情况说明" optional;
$fields
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend /internal/dept; callback_secret_file dept.secret;
                   materials photo; time_limit 3;
                   fields name note @f; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc;
                         time_limit 10; }
EOF

my $token = $t->token(key => 'hs', alg => 'HS256', kid => 'h1',
                      sub => '110101199001011234', name => 'citizen');
my %auth = (Authorization => "Bearer $token");

sub stored {
    my @f;
    find(sub { push @f, $_ if -f $_ && $File::Find::dir !~ m{/\.tmp} },
         $store);
    return scalar @f;
}

sub apps { scalar @{ $t->redis_cmd('KEYS', 'gov:app:*') || [] } }

# a PDF of N bytes, its bytes differing by "seed"
sub pdf {
    my ($n, $seed) = @_;
    my $head = "%PDF-1.4\n%$seed\n";
    my $tail = "\n%%EOF\n";
    return $head . ('x' x ($n - length($head) - length($tail))) . $tail;
}

sub upload {
    my ($body, %o) = @_;
    return $t->post('/uploads/', body => $body, %o,
                    headers => { %auth,
                                 'Content-Type' => 'application/pdf' });
}

sub submit {
    my ($body, $type) = @_;
    return $t->post('/bundles/newborn/applications', body => $body,
                    headers => { %auth, 'Content-Type' => $type });
}

sub pct { join '', map { sprintf '%%%02X', ord } split //, encode_utf8($_[0]) }

# A JSON submission of exactly $n bytes: Chinese text in as many of the
# fields f01..f30 as it takes (1,000 characters each at most), then blanks
sub json_of {
    my ($n, $ref) = @_;
    my %f = (name => '张三');
    my $doc = sub { JSON::PP->new->utf8->canonical->encode(
                        { fields => \%f, materials => { photo => $ref } }) };
    for my $i (1 .. 30) {
        my $k = sprintf 'f%02d', $i;
        $f{$k} = '情' x 1000;
        next if length $doc->() <= $n;
        my $over = length($doc->()) - $n;
        $f{$k} = '情' x (1000 - int(($over + 2) / 3));
        last;
    }
    my $body = $doc->();
    return $body . (' ' x ($n - length $body));
}

# The same urlencoded, as the page's form sends it (9 bytes a character),
# made up to the byte with ASCII in the last field
sub form_of {
    my ($n, $ref) = @_;
    my $body = 'fields.name=' . pct('张三') . "&materials.photo=$ref";
    for my $i (1 .. 30) {
        my $k = sprintf '&fields.f%02d=', $i;
        my $room = $n - length($body) - length $k;
        my $chars = int($room / 9);
        $chars = 1000 if $chars > 1000;
        $body .= $k . pct('情' x $chars);
        next if $chars == 1000 && $n - length $body > 10;
        $body .= 'a' x ($n - length $body);
        last;
    }
    return $body;
}

my $JSON_MAX = 65536;
my $FORM_MAX = 196608;

for my $proto (GovTest::protocols()) {
    $t->proto($proto);
    my $p = "[$proto]";

    # --- uploads ---------------------------------------------------------------

    my %ref;
    for my $mb (1, 5, 15) {
        my $body = pdf($mb * 1048576, "$proto-$mb");
        my $res = upload($body);
        is($res->{status}, 201, "$p a $mb MB upload: 201");
        is($res->{json}{sha256}, sha256_hex($body), "$p ... stored intact")
            if $res->{status} == 201;
        is($res->{protocol}, 'HTTP/2', "$p ... answered over HTTP/2")
            if $proto eq 'h2';
        $ref{$mb} = $res->{json}{ref};
    }

    my $chunk = pdf(3 * 1048576, "$proto-chunked");
    my $res = upload($chunk, chunked => 1);
    is($res->{status}, 201, "$p a chunked upload under max_size: 201")
        or diag($res->{content});
    is($res->{json}{sha256}, sha256_hex($chunk), "$p ... intact");

    my $before = stored();
    $res = upload(pdf(21 * 1048576, "$proto-big"), chunked => 1);
    is($res->{status}, 413, "$p a 21 MB chunked upload: 413")
        or diag($res->{content});
    is($res->{json}{error}, 'too_large', '... too_large');
    is(stored(), $before, '... nothing kept');

    $res = upload(pdf(21 * 1048576, "$proto-big2"));
    is($res->{status}, 413, "$p a declared 21 MB upload: 413")
        or diag($res->{content});

    # a client that stops mid-body: nothing kept, nothing left behind
    $before = stored();
    $res = upload(pdf(2 * 1048576, "$proto-abort"), abort_after => 1);
    isnt($res->{status}, 201, "$p a client that stops mid-body gets no 201");
    ok($t->wait_for(sub { !glob("$store/.tmp/*") }, 5),
       '... its temporary file goes');
    is(stored(), $before, '... and nothing is stored');

    # --- JSON and urlencoded bodies at their limits ---------------------------

    my $photo = $ref{1};
    my $apps = apps();
    $res = submit(json_of(20000, $photo), 'application/json');
    is($res->{status}, 201, "$p a 20 KB JSON submission: 201")
        or diag($res->{content});
    $res = submit(json_of($JSON_MAX, $photo), 'application/json');
    is($res->{status}, 201, "$p a JSON submission of exactly 64 KiB: 201")
        or diag($res->{content});
    my $id = $res->{json}{id};
    $res = submit(json_of($JSON_MAX + 1, $photo), 'application/json');
    is($res->{status}, 413, "$p one byte over: 413")
        or diag($res->{content});
    is($res->{json}{error}, 'too_large', '... too_large');
    $res = $t->post('/bundles/newborn/applications',
                    body => json_of($JSON_MAX + 1, $photo), chunked => 1,
                    headers => { %auth, 'Content-Type' => 'application/json' });
    is($res->{status}, 413, "$p one byte over, chunked (no length): 413")
        or diag($res->{content});
    is(apps(), $apps + 2, '... only the two good ones stored');

    $res = submit(form_of($FORM_MAX, $photo),
                  'application/x-www-form-urlencoded');
    is($res->{status}, 201, "$p a form of 192 KiB of Chinese text: 201")
        or diag($res->{content});
    my $form_id = $res->{json}{id};
    my $doc = $t->get("/progress/$form_id", headers => \%auth);
    is($doc->{status}, 200, '... its progress answers');
    $res = submit(form_of($FORM_MAX + 1, $photo),
                  'application/x-www-form-urlencoded');
    is($res->{status}, 413, "$p a form one byte over: 413")
        or diag($res->{content});
    is(apps(), $apps + 3, '... nothing more stored');

    # --- callbacks, signed v2 ------------------------------------------------

    ok($t->wait_for(sub {
           ($t->get("/progress/$id", headers => \%auth)->{json}{steps}[0]
            {state} // '') eq 'received' }, 10), "$p dispatched");
    my $note = '请补充' x 100;
    # JSON may carry blanks: 30 KB, past client_body_buffer_size
    my $body = encode_json({ state => 'correction', note => $note,
                             request => { materials => ['photo'] } })
             . (' ' x 30000);
    $res = $t->callback($id, 'nhc', $body);
    is($res->{status}, 204, "$p a 30 KB callback (temporary file): 204")
        or diag($res->{content});
    $res = $t->callback($id, 'nhc', encode_json({ state => 'accepted' })
                      . (' ' x $JSON_MAX));
    is($res->{status}, 413, "$p a callback over 64 KiB: 413")
        or diag($res->{content});

    # --- a correction answered with a large body ------------------------------

    $res = $t->post("/progress/$id/steps/nhc/correction",
                    body => encode_json({ materials => { photo => $ref{5} } })
                            . (' ' x 40000),
                    headers => { %auth, 'Content-Type' => 'application/json' });
    is($res->{status}, 202, "$p a 40 KB correction: 202")
        or diag($res->{content});
    $res = $t->post("/progress/$id/steps/nhc/correction",
                    body => encode_json({ materials => { photo => $ref{5} } })
                            . (' ' x $JSON_MAX),
                    headers => { %auth, 'Content-Type' => 'application/json' });
    is($res->{status}, 413, "$p a correction over 64 KiB: 413")
        or diag($res->{content});

    # --- a supplement (promised material) and a withdrawal --------------------

    $res = submit(encode_json({ fields => { name => '李四' },
                                promises => ['photo'] }),
                  'application/json');
    is($res->{status}, 201, "$p an application with a promise: 201")
        or diag($res->{content});
    my $pid = $res->{json}{id};
    $res = $t->post("/progress/$pid/materials",
                    body => encode_json({ materials => { photo => $ref{15} } })
                            . (' ' x 40000),
                    headers => { %auth, 'Content-Type' => 'application/json' });
    is($res->{status}, 202, "$p a 40 KB supplement: 202")
        or diag($res->{content});

    my $reason = '不再需要' x 20;
    $res = $t->post("/progress/$pid/withdrawal",
                    body => 'reason=' . pct($reason) . '&confirm=1&pad='
                            . ('x' x 20000),
                    headers => { %auth, 'Content-Type' =>
                                 'application/x-www-form-urlencoded' });
    is($res->{status}, 303, "$p a 20 KB withdrawal form: 303 to the page")
        or diag($res->{content});
    is($t->get("/progress/$pid", headers => \%auth)->{json}{status},
       'withdrawn', '... withdrawn');

    # --- progress over the protocol --------------------------------------------

    $res = $t->get("/progress/$id", headers => \%auth);
    is($res->{status}, 200, "$p progress: 200")
        or diag($res->{content});
    my $etag = $res->{headers}{etag};
    is($t->get("/progress/$id", headers => { %auth, 'If-None-Match' => $etag })
       ->{status}, 304, "$p ... 304 with its ETag");
}

# --- twenty uploads at once on one HTTP/2 connection ------------------------

if (grep { $_ eq 'h2' } GovTest::protocols()) {
    my @bodies = map { pdf(2 * 1048576, "parallel-$_") } 1 .. 20;
    my @res = $t->parallel_h2(map {
        [ 'POST', '/uploads/', body => $_, timeout => 60,
          headers => { %auth, 'Content-Type' => 'application/pdf' } ]
    } @bodies);
    is(scalar(grep { $_->{status} == 201 } @res), 20,
       'twenty 2 MB uploads on one HTTP/2 connection: all 201');
    my $intact = grep {
        ($res[$_]{json}{sha256} // '') eq sha256_hex($bodies[$_])
    } 0 .. 19;
    is($intact, 20, '... each stored intact');
    is((grep { $_->{connects} } @res) + 0, 1, '... over one connection');
}

# --- Redis down: every 503 says when to come back -----------------------------

$t->proto('http/1.1');
$t->stop_redis;
my $res = upload(pdf(100000, 'redis-down'));
is($res->{status}, 503, 'an upload while Redis is down: 503');
ok($res->{headers}{'retry-after'}, '... with Retry-After');
$res = submit(json_of(1000, 'upload:' . ('0' x 64)), 'application/json');
is($res->{status}, 503, 'a submission while Redis is down: 503');
ok($res->{headers}{'retry-after'}, '... with Retry-After');

$t->done;
done_testing();
