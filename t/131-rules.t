#!/usr/bin/perl

# The example alerting rules (conf/prometheus/gov.rules.yml) are valid for
# Prometheus and fire as their own tests say (promtool test rules); every
# metric they name is one gov_status writes; the example dashboard is
# JSON that names only those metrics too.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;

# make test installs it (TEST_DEPS)
my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
BAIL_OUT('promtool is missing: apt-get install prometheus') unless $promtool;

my $dir = 'conf/prometheus';

my $out = `$promtool check rules $dir/gov.rules.yml 2>&1`;
is($?, 0, 'promtool check rules: passes') or diag($out);
like($out, qr/SUCCESS: 10 rules found/, 'ten rules');

$out = `$promtool test rules $dir/gov.rules.test.yml 2>&1`;
is($?, 0, 'promtool test rules: passes') or diag($out);

# the names gov_status writes, from the module's own source
my $src = join '', map {
    local $/;
    open my $fh, '<', $_ or die "$_: $!";
    <$fh>;
} qw(ngx_gov_module/ngx_gov_metrics.c ngx_gov_module/ngx_gov_breaker.c);
my %known = map { $_ => 1 } $src =~ /"(gov_[a-z_]+)/g;
ok(scalar keys %known > 20, 'the metrics of gov_status');

sub names {
    my ($text) = @_;
    my %n = map { $_ => 1 } $text =~ /\b(gov_[a-z_]+)\b/g;
    return sort keys %n;
}

my $rules = do { local $/; open my $fh, '<', "$dir/gov.rules.yml" or die $!;
                 <$fh> };
# each rule's expression: from "expr:" to its "for:"
my @rexprs = $rules =~ /^\s+expr:(.*?)^\s+for:/msg;
is(scalar @rexprs, 10, 'ten expressions');
my @unknown = grep { !$known{$_} } names(join ' ', @rexprs);
is("@unknown", '', 'the rules name only metrics gov_status writes');

my $dash = do { local $/; open my $fh, '<', "$dir/gov.dashboard.json"
                                or die $!; <$fh> };
my $doc = eval { decode_json($dash) };
ok($doc && ref $doc->{panels} eq 'ARRAY' && @{ $doc->{panels} } >= 6,
   'the dashboard: JSON with its panels');
my @exprs = map { $_->{expr} } map { @{ $_->{targets} || [] } }
            @{ $doc->{panels} || [] };
ok(@exprs >= 6, 'each panel with its query');
@unknown = grep { !$known{$_} } names(join ' ', @exprs);
is("@unknown", '', 'the dashboard names only metrics gov_status writes');

done_testing();
