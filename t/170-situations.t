#!/usr/bin/perl

# CONTRACT section 13, situations (情形): "when FIELD PATTERN ITEM ..." in a
# gov_bundle includes items only when the application's field matches.
# The guide answers the citizen's own list for ?FIELD=VALUE and shows the
# conditions otherwise (JSON and the page, which asks the question first);
# validation, dispatch, progress, callbacks and the statistics use the
# chosen items only; nginx -t catches the mistakes with file:line.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use GovTest;

my $model = GovTest::newborn(items => [qw(nhc cdc)], no_bundle => 1,
                             head => <<'EOF', more => <<'EOF');
    gov_material hukou_book "户口簿";
    gov_field split "父母户籍是否在不同地方（是/否）" pattern=是|否;
    gov_field address "父亲户籍地址";
EOF
    gov_item hk { name "异地户口登记"; department "公安局";
                  backend /internal/dept; callback_secret_file dept.secret;
                  materials hukou_book; fields name address; time_limit 5; }
EOF

my $t = GovTest->world(
    http => "    gov_templates %%ROOT%%/templates;\n",
    bundles => $model . <<'EOF', server => "    location /stats/ { gov_stats; }\n");
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc cdc;
                         when split "是" hk;
                         time_limit 10; }
EOF

my %auth = (Authorization => 'Bearer ' . $t->token(key => 'hs', alg => 'HS256',
    kid => 'h1', sub => '110101199001011234'));
my %json = ('Content-Type' => 'application/json');

# --- the guide ------------------------------------------------------------------

my $g = $t->get('/bundles/newborn')->{json};
is_deeply([ map { $_->{id} } @{ $g->{items} } ], [ qw(nhc cdc hk) ],
          'the whole guide lists every item');
is_deeply($g->{items}[2]{when}, { field => 'split', pattern => '是' },
          '... the conditional one with its condition');
ok(!exists $g->{items}[0]{when}, '... the others without');
is_deeply([ map { $_->{id} } @{ $g->{fields} } ], [ qw(name split address) ],
          '... the situation\'s question among the fields');
is_deeply([ map { [ $_->{field}, $_->{pattern}, $_->{items} ] }
            @{ $g->{situations} } ],
          [ [ 'split', '是', [ 'hk' ] ] ], '... and listed as a situation');

$g = $t->get('/bundles/newborn?split=' . GovTest::uri_escape('否'))->{json};
is_deeply([ map { $_->{id} } @{ $g->{items} } ], [ qw(nhc cdc) ],
          '?split=否: the citizen\'s own list, without hk');
is_deeply([ map { $_->{id} } @{ $g->{materials} } ], [ 'photo' ],
          '... without hk\'s materials');
is_deeply([ map { $_->{id} } @{ $g->{fields} } ], [ qw(name split) ],
          '... nor its fields');
is($g->{situations}[0]{answer}, '否', '... the answer shown');

$g = $t->get('/bundles/newborn?split=' . GovTest::uri_escape('是'))->{json};
is_deeply([ map { $_->{id} } @{ $g->{items} } ], [ qw(nhc cdc hk) ],
          '?split=是: hk included');
ok(!exists $g->{items}[2]{when}, '... as the citizen\'s, no condition');
is_deeply($g->{materials}[1], { id => 'hukou_book', name => '户口簿',
                                elicense => JSON::PP::false,
                                needed_by => [ 'hk' ] },
          '... with its material');

# the page asks first, then shows the one list
my $res = $t->get('/bundles/newborn', headers => { Accept => 'text/html' });
my $html = decode_utf8($res->{content});
like($html, qr{<form method="get" action="/bundles/newborn"[^>]*id="situation"},
     'the guide page asks the situation first, a plain GET form');
like($html, qr{<label for="q-split">父母户籍是否在不同地方（是/否）</label>},
     '... the question labelled');
like($html, qr/异地户口登记.*视情形/s, '... the conditional item marked');
$res = $t->get('/bundles/newborn?split=' . GovTest::uri_escape('否'),
               headers => { Accept => 'text/html' });
$html = decode_utf8($res->{content});
unlike($html, qr/异地户口登记/, 'answered 否: the page leaves hk out');
like($html, qr{href="/bundles/newborn/apply\?split=%E5%90%A6"},
     '... and carries the answer to the form');
$res = $t->get('/bundles/newborn/apply?split=' . GovTest::uri_escape('是'),
               headers => { Accept => 'text/html', %auth });
$html = decode_utf8($res->{content});
like($html, qr/name="fields\.address"/, 'the form for 是 asks hk\'s field');
like($html, qr/name="fields\.split" value="是"/, '... the answer filled in');
$res = $t->get('/bundles/newborn/apply?split=' . GovTest::uri_escape('否'),
               headers => { Accept => 'text/html', %auth });
unlike(decode_utf8($res->{content}), qr/name="fields\.address"/,
       'the form for 否 does not');

# --- submissions ----------------------------------------------------------------

sub apply {
    my ($fields, $materials) = @_;
    return $t->post('/bundles/newborn/applications',
                    body => encode_json({ fields => $fields,
                                          materials => $materials }),
                    headers => { %json, %auth });
}

$res = apply({ name => '王小宝', split => '是' }, { photo => 'ref-1' });
is($res->{status}, 422, 'split=是 without hk\'s field and material: 422');
is_deeply([ sort @{ $res->{json}{missing} } ], [ qw(address hukou_book) ],
          '... both listed at once');

$res = apply({ name => '王小宝' }, { photo => 'ref-1' });
is($res->{status}, 422, 'the question unanswered: 422');
is_deeply($res->{json}{missing}, [ 'split' ], '... split missing');

$res = apply({ name => '王小宝', split => '也许' }, { photo => 'ref-1' });
is($res->{status}, 422, 'an answer the field does not allow: 422');

my $before = () = $t->backend_requests('dept');
$res = apply({ name => '王小宝', split => '否', address => '北京市' },
             { photo => 'ref-1', hukou_book => 'ref-2' });
is($res->{status}, 201, 'split=否: accepted, hk\'s field and material '
   . 'given needlessly are not refused');
my $no = $res->{json}{id};
is_deeply([ map { $_->{item} } @{ $res->{json}{steps} } ], [ qw(nhc cdc) ],
          '... two steps');
my $stored = decode_json($t->redis_cmd('HGET', "gov:app:$no", 'doc'));
ok(!exists $stored->{fields}{address} && !exists $stored->{materials}{hukou_book},
   '... and what only hk asks for is not kept');
is_deeply([ sort @{ $t->redis_cmd('HKEYS', "gov:steps:$no") } ],
          [ qw(cdc nhc) ], '... nor a step for hk in Redis');
ok($t->wait_for(sub { (() = $t->backend_requests('dept')) >= $before + 2 }, 10),
   '... two departments told');
my @items = map { $_->{headers}{'x-gov-item'} }
            ($t->backend_requests('dept'))[$before .. $before + 1];
is_deeply([ sort @items ], [ qw(cdc nhc) ], '... nhc and cdc, not hk');

$res = apply({ name => '王小宝', split => '是', address => '北京市东城区' },
             { photo => 'ref-1', hukou_book => 'ref-2' });
is($res->{status}, 201, 'split=是 with everything: 201');
my $yes = $res->{json}{id};
is_deeply([ map { $_->{item} } @{ $res->{json}{steps} } ], [ qw(nhc cdc hk) ],
          '... three steps');

# --- progress, callbacks ----------------------------------------------------------

$res = $t->get("/progress/$no", headers => \%auth);
is_deeply([ map { $_->{item} } @{ $res->{json}{steps} } ], [ qw(nhc cdc) ],
          'progress of 否: its two steps');
$res = $t->get("/progress/$yes", headers => \%auth);
is(scalar @{ $res->{json}{steps} }, 3, 'progress of 是: three');

sub callback {
    my ($id, $item, $state) = @_;
    return $t->callback($id, $item, { state => $state, item => $item });
}

is(callback($no, 'hk', 'accepted')->{status}, 404,
   'a callback for the item its situation left out: 404');
for my $item (qw(nhc cdc)) {
    is(callback($no, $item, 'accepted')->{status}, 204, "$item accepted");
    is(callback($no, $item, 'approved')->{status}, 204, "$item approved");
}
$res = $t->get("/progress/$no", headers => \%auth);
is($res->{json}{status}, 'done', 'both steps approved: done');
is($res->{json}{percent}, 90, '... 90%: both approved, over its two steps');
is(ref $res->{json}{rating}, '', '... and it may be rated');
is($t->post("/progress/$no/rating", body => encode_json({ score => 5 }),
            headers => { %json, %auth })->{status}, 204, 'rated');

# --- the statistics count the chosen items only -------------------------------------

my $s = $t->get('/stats/')->{json};
my %apps = map { $_->{id} => $_->{applications} } @{ $s->{items} };
is_deeply(\%apps, { nhc => 2, cdc => 2, hk => 1 },
          'applications per item: hk only for the one that chose it');
my ($nb) = @{ $s->{bundles} };
is_deeply([ @$nb{qw(applications finished ratings)} ], [ 2, 1, 1 ],
          'the bundle: two applied, the one without hk finished and rated');

$t->stop_nginx;
$t->check_logs;

# --- nginx -t ------------------------------------------------------------------

for my $case (
    [ 'when nosuch "x" hk;', qr/"when" of bundle "newborn" names unknown field "nosuch" in \S+:\d+/ ],
    [ 'when split "是" nosuch;', qr/bundle "newborn" names unknown item "nosuch" in \S+:\d+/ ],
    [ "when split \"是\" hk;\n when name \"x\" hk;", qr/item "hk" is in two situations of bundle "newborn" in \S+:\d+/ ],
    [ 'when split "(" hk;', qr/invalid pattern of situation "split": .* in \S+:\d+/ ],
    [ 'when split "是";', qr/invalid number of arguments in "when" of gov_bundle in \S+:\d+/ ],
    [ 'when split "" hk;', qr/empty pattern in "when split" of bundle "newborn" in \S+:\d+/ ],
    [ 'when split "是" cdc;', qr/item "dep" of bundle "newborn" depends on "cdc", which the situation "split" may leave out in \S+:\d+/ ],
) {
    my ($line, $re) = @$case;
    my $extra = $line =~ /cdc;$/
        ? "    gov_item dep { name \"依赖\"; department \"x\"; backend /internal/dept;\n"
          . "                   callback_secret_file dept.secret; depends cdc; time_limit 1; }\n"
        : '';
    my $items = $extra ? 'nhc cdc dep' : 'nhc cdc';
    $t->write_conf(http => "    gov_redis 127.0.0.1:1;\n" . $model . $extra
        . "    gov_bundle newborn { name \"x\"; code NB; items $items;\n"
        . "        $line\n        time_limit 10; }\n");
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "nginx -t fails: $line");
    like($out, $re, '... with a precise message and file:line');
}

$t->write_file('logs/error.log', '');
$t->done;
done_testing();
