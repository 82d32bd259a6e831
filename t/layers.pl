#!/usr/bin/perl

# make layers: checks every #include "..." of the module's sources against
# the floors stated in ngx_gov_module/LAYERS (see the comment there).
#
#   t/layers.pl [DIR]      DIR defaults to ngx_gov_module
#
# Prints each offending line as FILE:LINE: TEXT (WHY) and exits 1; exits 0
# with a one-line summary when every include looks down (or sideways to a
# unit the file's unit is allowed to know).

use strict;
use warnings;
use File::Basename qw(basename dirname);
use File::Find;

my $dir = shift // 'ngx_gov_module';
my $rules = "$dir/LAYERS";

open my $fh, '<', $rules or die "layers: cannot open $rules: $!\n";

my (%floor, %knows, @order, %rank);
while (<$fh>) {
    s/#.*//;
    next unless /\S/;
    my ($floor, $unit, @known) = split;
    die "layers: $rules:$.: a line needs FLOOR UNIT [KNOWS...]\n"
        unless defined $unit;
    push @order, $floor unless exists $rank{$floor};
    $rank{$floor} //= scalar @order;
    die "layers: $rules:$.: unit \"$unit\" is listed twice\n"
        if exists $floor{$unit};
    $floor{$unit} = $floor;
    $knows{$unit} = { map { $_ => 1 } @known };
}
close $fh;

# a file's unit: its name without .c or .h; "core/x" units may be globbed
sub unit_of {
    my ($rel) = @_;
    (my $u = $rel) =~ s/\.[ch]\z//;
    return $u if exists $floor{$u};
    for my $pat (keys %floor) {
        next unless $pat =~ /\*/;
        (my $re = quotemeta $pat) =~ s/\\\*/[^\/]*/g;
        return $pat if $u =~ /\A$re\z/;
    }
    return undef;
}

my @files;
find({ no_chdir => 1, wanted => sub {
    push @files, $File::Find::name if /\.[ch]\z/ && !m{/tools/};
} }, $dir);

my %header;     # include name -> relative path, for the module's headers
for my $f (@files) {
    (my $rel = $f) =~ s{\A\Q$dir\E/}{};
    $header{ basename($rel) } = $rel if $rel =~ /\.h\z/;
}

my ($bad, $checked) = (0, 0);

for my $f (sort @files) {
    (my $rel = $f) =~ s{\A\Q$dir\E/}{};
    my $u = unit_of($rel);
    unless (defined $u) {
        print "$f:1: not in $rules (every source file has a floor)\n";
        $bad++;
        next;
    }

    open my $in, '<', $f or die "layers: $f: $!\n";
    while (my $line = <$in>) {
        if ($rel =~ m{\Acore/} && $line =~ /^\s*#\s*include\s+<ngx_/) {
            chomp $line;
            print "$f:$.: $line (the core includes no nginx header)\n";
            $bad++;
            next;
        }

        next unless $line =~ /^\s*#\s*include\s+"([^"]+)"/;
        my $inc = $1;
        $checked++;
        my $hrel = $header{ basename($inc) };
        my $why;

        if (!defined $hrel) {
            $why = "\"$inc\" is not a header of the module";
        } else {
            my $hu = unit_of($hrel);
            if (!defined $hu) {
                $why = "\"$inc\" is not in $rules";
            } elsif ($hu eq $u) {
                next;
            } elsif ($rank{ $floor{$hu} } > $rank{ $floor{$u} }) {
                $why = "$floor{$u} includes the higher floor $floor{$hu}";
            } elsif ($rank{ $floor{$hu} } == $rank{ $floor{$u} }
                     && !$knows{$u}{$hu})
            {
                $why = "$u may not know $hu (same floor, not listed)";
            }
        }

        next unless $why;
        chomp $line;
        print "$f:$.: $line ($why)\n";
        $bad++;
    }
    close $in;
}

if ($bad) {
    print "layers: $bad include(s) break the floors of $rules\n";
    exit 1;
}

printf "layers: %d includes in %d files look down (%s)\n", $checked,
       scalar @files, join(' < ', @order);
exit 0;
