#!/usr/bin/perl

# Living beside Debian's other nginx modules.  nginx loads modules with
# RTLD_GLOBAL, so a library symbol one module exports is seen by all: the
# module must bind only to the libraries it was built with and export
# nothing but itself.  Checked on the built .so (ldd, nm -D), then with
# Debian's nchan (its own hiredis 1.x, in Redis mode on the test Redis), a
# test module exporting clashing jwt_*, redis* and json_* names, and every
# module of Debian's nginx-extras, each loaded before and after ours.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use GovTest;

my $t = GovTest->new;
my $so = $t->{module};
my $moddir = '/usr/lib/nginx/modules';

# --- the built module ------------------------------------------------------

my $ldd = `ldd $so 2>&1`;
is($?, 0, 'ldd reads the module') or diag($ldd);
unlike($ldd, qr/lib(hiredis|jansson|jwt)/,
       'no shared hiredis, jansson or libjwt at run time');
like($ldd, qr/libcrypto\.so/, 'OpenSSL is nginx\'s own, shared');

my @defined = sort map { (split)[-1] }
              grep { /\s[A-Za-z]\s/ } `nm -D --defined-only $so`;
is_deeply(\@defined,
          [ qw(ngx_http_gov_module ngx_module_names ngx_module_order
               ngx_modules) ],
          'exports only what nginx looks up to load a module')
    or diag("@defined");

my @undef = map { (split)[-1] } grep { /\sU\s/ } `nm -D --undefined-only $so`;
my @foreign = grep { /^(redis|json_|jwt_|freeReplyObject|sds)/ } @undef;
is_deeply(\@foreign, [], 'imports no hiredis, jansson or libjwt name')
    or diag("@foreign");

# --- a module that clashes with every library name we use -------------------

my $clash = $t->prefix . '/ngx_http_clash_module.so';
# the configured nginx tree the module was built in: BUILD/NAME/objs/x.so
(my $tree = $so) =~ s{/objs/[^/]+\z}{};
my @inc = map { "-I$tree/$_" } qw(src/core src/event src/event/modules
                                  src/os/unix objs src/http src/http/modules
                                  src/http/v2);
my $cc = system('cc', '-shared', '-fPIC', '-O1', '-w', @inc, '-o', $clash,
                GovTest->root . '/t/neighbours/ngx_http_clash_module.c');
diag("built against $tree") if $cc;
is($cc, 0, 'the clashing test module builds');
like(`nm -D --defined-only $clash`, qr/\bjwt_decode\b.*\bredisReaderCreate\b/s,
     'it exports jwt_decode and hiredis names');

# --- one submission's world --------------------------------------------------

$t->start_redis;
$t->gen_keys;
$t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ], [ 'rsa', 'RS256', 'r1' ]);
$t->write_file('conf/dept.secret', "department-secret-0123456789\n");

$t->backend(sub {
    my ($req) = @_;
    my $app = decode_json($req->{body});
    return { status => 200,
             body => encode_json({ receipt => "R-$app->{id}" }) };
}, name => 'dept');

my $HTTP = <<'EOF';
    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;
    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;
    gov_calendar %%ROOT%%/conf/calendar/cn-2026.txt;

    gov_material id_card "身份证";
    gov_field name "姓名";

    gov_item dept {
        name "登记";
        department "民政局";
        backend /internal/dept;
        callback_secret_file dept.secret;
        materials id_card;
        fields name;
        time_limit 5;
    }

    gov_bundle reg {
        name "登记一件事";
        code RG;
        items dept;
        time_limit 5;
    }
EOF

my $SERVER = <<'EOF';
    location /bundles/ { gov_bundles; }
    location /progress/ { gov_progress; }
    location = /gov/status { gov_status; }
    location /internal/dept {
        internal;
        proxy_pass http://127.0.0.1:%%BACKEND:dept%%/steps;
    }
EOF

my $NCHAN_HTTP = <<'EOF';
    upstream nchan_redis {
        nchan_redis_server redis://127.0.0.1:%%REDIS_PORT%%;
    }
EOF

my $NCHAN_SERVER = <<'EOF';
    location = /pub {
        nchan_publisher;
        nchan_channel_id $arg_id;
        nchan_redis_pass nchan_redis;
    }
    location = /sub {
        nchan_subscriber longpoll;
        nchan_channel_id $arg_id;
        nchan_subscriber_first_message oldest;
        nchan_redis_pass nchan_redis;
    }
EOF

my $n = 0;

# a bearer submission (JWT verified, JSON parsed, Redis written by script,
# a department reached) and its progress lookup; "how" names the case
sub journey {
    my ($how, $key, $alg, $kid) = @_;
    my $token = $t->token(key => $key, alg => $alg, kid => $kid,
                          sub => '110101199001011234');
    my %auth = (Authorization => "Bearer $token");
    my $res = $t->post('/bundles/reg/applications',
                       headers => { %auth,
                                    'Content-Type' => 'application/json' },
                       body => encode_json({ fields => { name => 'x' },
                                             materials => { id_card => 'x' } }));
    is($res->{status}, 201, "$how: a submission is acknowledged ($alg)")
        or diag($res->{content});
    my $id = $res->{json}{id} // 'none';
    is($t->redis_cmd('EXISTS', "gov:app:$id"), 1, "$how: and is in Redis");
    my $p = $t->wait_for(sub {
        my $r = $t->get("/progress/$id", headers => \%auth);
        return $r->{status} == 200 && $r->{json}{steps}[0]{receipt}
               ? $r : undef;
    }, 10);
    is($p && $p->{json}{steps}[0]{receipt}, "R-$id",
       "$how: the department's receipt shows in progress");
}

sub nchan_roundtrip {
    my ($how) = @_;
    my $ch = 'ch' . ++$n;
    my $pub = $t->wait_for(sub {
        my $r = $t->post("/pub?id=$ch", body => "hello $ch",
                         headers => { 'Content-Type' => 'text/plain' });
        return $r->{status} =~ /^20[12]$/ ? $r : undef;
    }, 10);
    ok($pub, "$how: nchan publishes through Redis");
    my $sub = $t->get("/sub?id=$ch", timeout => 5);
    is($sub->{status}, 200, "$how: a subscriber gets the message");
    is($sub->{content}, "hello $ch", "$how: the message itself");
    ok(scalar(grep { /\Q$ch\E/ } @{ $t->redis_cmd('KEYS', '*') }),
       "$how: nchan keeps it in the test Redis");
}

my $nchan = "$moddir/ngx_nchan_module.so";

for my $case ([ nchan => $nchan ],
              [ 'the clash module' => $clash ])
{
    my ($name, $mod) = @$case;

    for my $order (qw(first last)) {
        my $how = "$name loaded $order";

        $t->write_conf(http => $HTTP . $NCHAN_HTTP,
                       server => $SERVER . $NCHAN_SERVER
                                 . ($mod eq $clash
                                    ? "    location = /clash { clash; }\n"
                                    : ''),
                       # nchan serves the round trip in the clash cases
                       # too, loaded before the clash module, whose fakes
                       # would otherwise abort nchan's own hiredis calls
                       load_first => [ $order eq 'first'
                                       ? ($mod eq $clash ? ($nchan, $mod)
                                                         : $mod)
                                       : () ],
                       load_last => [ $order eq 'last'
                                      ? ($mod eq $clash ? ($nchan, $mod)
                                                        : $mod)
                                      : () ]);
        my ($rc, $out) = $t->test_conf;
        is($rc, 0, "$how: nginx -t") or diag($out);

        $t->start_nginx;

        journey($how, 'hs', 'HS256', 'h1');
        journey($how, 'rsa', 'RS256', 'r1');
        nchan_roundtrip($how);

        if ($mod eq $clash) {
            is($t->get('/clash')->{content}, "clash 4242\n",
               "$how: the clash module calls its own jwt_decode");
        }

        is($t->metrics->{gov_redis_errors_total} // 0, 0,
           "$how: no Redis protocol error");

        $t->stop_nginx;
    }
}

# --- every module Debian's nginx-extras ships ---------------------------------

my @extras;
for my $f (sort glob '/etc/nginx/modules-enabled/*.conf') {
    open my $fh, '<', $f or next;
    while (<$fh>) {
        push @extras, "$moddir/$1" if /^\s*load_module\s+modules\/(\S+);/;
    }
}
@extras = grep { -e } @extras;
cmp_ok(scalar @extras, '>=', 20,
       'nginx-extras\' modules are installed and enabled')
    or diag(join ' ', @extras);

for my $order (qw(first last)) {
    my $how = "all of nginx-extras loaded $order";

    $t->write_conf(http => $HTTP . $NCHAN_HTTP,
                   server => $SERVER . $NCHAN_SERVER . <<'EOF',
    location = /lua { content_by_lua_block { ngx.say("lua ", 1 + 1) } }
    location = /echo { echo "echo ok"; }
    more_set_headers "X-Neighbour: headers-more";
EOF
                   $order eq 'first' ? (load_first => \@extras)
                                     : (load_last => \@extras));
    my ($rc, $out) = $t->test_conf;
    is($rc, 0, "$how: nginx -t") or diag($out);

    $t->start_nginx;

    journey($how, 'hs', 'HS256', 'h1');
    nchan_roundtrip($how);

    my $lua = $t->get('/lua');
    is($lua->{content}, "lua 2\n", "$how: Lua answers");
    is($lua->{headers}{'x-neighbour'}, 'headers-more',
       "$how: headers-more works");
    is($t->get('/echo')->{content}, "echo ok\n", "$how: echo answers");

    $t->stop_nginx;
}

# nchan, Lua and the others are not ours to judge under valgrind
$t->done(valgrind_ours => 1);
done_testing();
