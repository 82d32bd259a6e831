#!/usr/bin/perl

# CONTRACT section 17, data keys: "gov_data_key_file PATH
# [alg=aes-256-gcm|sm4-sm3]" loads a key a line (64 hex digits), the
# first sealing, every one opening; nginx -t names every mistake with the
# file and the line.  This version checks and loads the keys (the core's
# sealing has its own unit test, t/unit/seal.c) and says that it does not
# seal what it stores yet.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use GovTest;

my $t = GovTest->world(start => 0, bundles => GovTest::newborn());

my $k1 = '00112233445566778899aabbccddeeff' x 2;
my $k2 = 'ffeeddccbbaa99887766554433221100' x 2;

# conf LINES: nginx -t of the world with these http lines
sub conf {
    my ($lines) = @_;
    $t->write_world(http => $lines, bundles => GovTest::newborn());
    return $t->test_conf;
}

sub key_file {
    my ($name, $text, $mode) = @_;
    $t->write_file("conf/$name", $text);
    chmod $mode // 0600, "$t->{prefix}/conf/$name";
    return "%%PREFIX%%/conf/$name";
}

my %bad = (
    short => [ substr($k1, 1) . "\n",
               qr/line 1: the key holds 63 characters, not 64 hex digits/ ],
    nothex => [ "# rotated 2026-12\n\n" . substr($k1, 0, 63) . "g\n",
                qr/line 3: the key character 64 is not a hex digit/ ],
    twice => [ "$k1\n$k2\n$k1\n", qr/line 3: the same key twice \(id [0-9a-f]{8}\)/ ],
    empty => [ "# nothing yet\n\n", qr/holds no key \(64 hex digits a line\)/ ],
);
for my $name (sort keys %bad) {
    my ($text, $re) = @{ $bad{$name} };
    my $f = key_file("$name.key", $text);
    my ($rc, $out) = conf("    gov_data_key_file $f;\n");
    isnt($rc, 0, "a key file $name: nginx -t fails");
    like($out, qr/"gov_data_key_file": "\S+\Q$name\E\.key" .*$re.* in \S+nginx\.conf:\d+/,
         "... saying where and why");
}

my ($rc, $out) = conf("    gov_data_key_file /nonexistent/gov.key;\n");
isnt($rc, 0, 'a missing key file fails');
like($out, qr/"gov_data_key_file": cannot open "\/nonexistent\/gov\.key"/,
     '... named');

my $f = key_file('a.key', "$k1\n");
($rc, $out) = conf("    gov_data_key_file $f alg=sm4;\n");
isnt($rc, 0, 'an unknown suite fails');
like($out, qr/"alg=sm4" is not "alg=aes-256-gcm" or "alg=sm4-sm3"/, '... named');

# two files, the second of the 国密 suite and readable by anyone
my $g = key_file('gm.key', "$k2\n$k1\n", 0644);
($rc, $out) = conf("    gov_data_key_file $f;\n"
                   . "    gov_data_key_file $g alg=sm4-sm3;\n");
is($rc, 0, 'an AES key and two SM4 keys load');
like($out, qr/"gov_data_key_file": "\S+gm\.key" may be read by anyone/,
     'a key file others may read is warned of');
like($out, qr/2 keys of "\S+gm\.key" checked; this version does not seal what it stores yet/,
     'and the version says what it does with them');

# the refusals above were nginx -t's, on purpose
$t->write_file('logs/error.log', '');
$t->start_nginx;
my $res = $t->get('/bundles/');
is($res->{status}, 200, 'nginx runs with the keys');

$t->done;
done_testing;
