#!/usr/bin/perl

# make layers: the floors of ngx_gov_module/LAYERS hold for the sources,
# and the checker itself catches an include from a higher floor, from a
# room not listed, a file without a floor and an nginx header in the core.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use GovTest;

my $root = GovTest->root;
my $check = "$root/t/layers.pl";

my $out = `perl $check $root/ngx_gov_module 2>&1`;
is($?, 0, 'the sources keep to their floors') or diag($out);
like($out, qr/look down \(core < base < service < room < module\)/,
     'and the checker says which floors it held them to');

# a small tree that breaks every rule once

my $d = tempdir(CLEANUP => 1);
make_path("$d/core");

sub put {
    my ($name, $text) = @_;
    open my $fh, '>', "$d/$name" or die "$name: $!";
    print $fh $text;
    close $fh;
}

put('LAYERS', <<'EOF');
core     core/gov_*   core/gov_*
service  ngx_gov_svc
room     ngx_gov_a
room     ngx_gov_b    ngx_gov_a
module   ngx_http_x
EOF

put('core/gov_x.h', "int gov_x(void);\n");
put('core/gov_x.c', "#include <ngx_core.h>\n#include \"gov_x.h\"\n");
put('ngx_gov_svc.h', "\n");
put('ngx_gov_svc.c', "#include \"gov_x.h\"\n#include \"ngx_gov_a.h\"\n");
put('ngx_gov_a.h', "\n");
put('ngx_gov_a.c', "#include \"ngx_gov_svc.h\"\n#include \"ngx_gov_b.h\"\n");
put('ngx_gov_b.h', "\n");
put('ngx_gov_b.c', "#include \"ngx_gov_a.h\"\n#include \"ngx_gov_b.h\"\n");
put('ngx_http_x.c', "#include \"ngx_gov_b.h\"\n");
put('ngx_gov_stray.c', "\n");

$out = `perl $check $d 2>&1`;
isnt($?, 0, 'a tree that breaks the floors fails');
like($out, qr{ngx_gov_svc\.c:2: #include "ngx_gov_a\.h" \(service includes the higher floor room\)},
     'an upward include is named with its file, line and text');
like($out, qr{ngx_gov_a\.c:2: #include "ngx_gov_b\.h" \(ngx_gov_a may not know ngx_gov_b},
     'a room that is not listed is refused');
unlike($out, qr{ngx_gov_b\.c:1}, 'a listed room on the same floor is allowed');
unlike($out, qr{ngx_http_x\.c}, 'the module may include any room');
like($out, qr{core/gov_x\.c:1: #include <ngx_core\.h> \(the core includes no nginx header\)},
     'the core may not include nginx');
like($out, qr{ngx_gov_stray\.c:1: not in \S+LAYERS},
     'a file without a floor is refused');
like($out, qr/layers: 4 include\(s\) break the floors/, 'and counted');

done_testing();
