#!/usr/bin/perl

# The demo archive (core Perl only): files on disk, wired in conf/nginx.conf
# with gov_archive_notify (where the portal sends what leaves Redis) and
# gov_archive (where it reads it back).  Also the tests' archive.
#
#   POST /            an "archived" event (JSON, X-Gov-Event-Id): its
#                     "document" kept as DIR/ID.json (written to a temporary
#                     file, then renamed: whole or not at all), the delivery
#                     logged in DIR/deliveries.log ("ID EVENT-ID"); 200.
#                     The same application again replaces its file: an
#                     application is archived once, however often delivered
#   GET  /ID          the document kept, 200; 404 if none.  X-Gov-Subject
#                     (who asks) is logged with it in DIR/reads.log
#   GET  /            a page: the applications archived
#
# A fault to play (tests, drills): the first word of --mode-file, if it
# exists: "down" (503 to everything), "slow" (a POST is kept, then answered
# after 3 s: the portal gives up and delivers it again).
#
# Usage: archive.pl [--port 9104] [--dir DIR] [--mode-file FILE]
#                   [--log FILE]

use strict;
use warnings;
use File::Path qw(make_path);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Socket qw(SOMAXCONN);

my %opt = (port => 9104, dir => '', 'mode-file' => '', log => '');
while (@ARGV) {
    my $k = shift;
    $k =~ s/^--// && exists $opt{$k}
        or die "usage: $0 [--port N] [--dir DIR] [--mode-file FILE]"
             . " [--log FILE]\n";
    $opt{$k} = shift;
}

$opt{dir} ||= 'archive';
make_path($opt{dir});

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $opt{port}, Proto => 'tcp',
                                   Listen => SOMAXCONN, ReuseAddr => 1)
    or die "archive: cannot listen on 127.0.0.1:$opt{port}: $!\n";

$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };
$SIG{TERM} = $SIG{INT} = sub { exit 0 };

my $json = JSON::PP->new->utf8->canonical;

while (1) {
    my $c = $listen->accept or next;
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        close $listen;
        serve($c) while !$c->eof;
        exit 0;
    }
    close $c;
}

sub mode {
    return '' unless $opt{'mode-file'} && open my $fh, '<', $opt{'mode-file'};
    my $m = <$fh> // '';
    return $m =~ /^(\w+)/ ? $1 : '';
}

sub serve {
    my ($c) = @_;
    local $/ = "\r\n";

    my $line = <$c>;
    return unless defined $line;
    $line =~ s/\r\n$//;
    my ($method, $uri) = split / /, $line;
    my %h;
    while (defined(my $l = <$c>)) {
        $l =~ s/\r\n$//;
        last if $l eq '';
        my ($k, $v) = split /:\s*/, $l, 2;
        $h{ lc $k } = $v;
    }
    my $body = '';
    read($c, $body, $h{'content-length'}) if $h{'content-length'};

    my ($status, $type, $out) = (404, 'application/json',
                                 '{"error":"not_found"}');
    my $mode = mode();
    my $delay = 0;

    if ($mode eq 'down') {
        ($status, $out) = (503, '{"error":"unavailable"}');

    } elsif ($method eq 'POST' && $uri =~ m{^/?$}) {
        my $ev = eval { $json->decode($body) };
        my $doc = $ev && ref $ev->{document} eq 'HASH' ? $ev->{document}
                                                         : undef;
        my $id = $doc ? $doc->{id} // '' : '';

        if (($ev->{type} // '') ne 'archived' || $id !~ /^[A-Za-z0-9]+$/
            || ($ev->{application} // '') ne $id)
        {
            ($status, $out) = (400, '{"error":"not_an_archived_event"}');

        } elsif (keep($id, $doc)) {
            append('deliveries.log', "$id " . ($h{'x-gov-event-id'} // '-'));
            logline("archived $id");
            ($status, $out) = (200, $json->encode({ archived => $id }));
            $delay = 3 if $mode eq 'slow';

        } else {
            ($status, $out) = (500, '{"error":"not_stored"}');
        }

    } elsif ($method eq 'GET' && $uri =~ m{^/([A-Za-z0-9]+)$}) {
        my $id = $1;
        append('reads.log', "$id " . ($h{'x-gov-subject'} // '-'));
        if (open my $fh, '<', "$opt{dir}/$id.json") {
            local $/;
            ($status, $out) = (200, <$fh>);
        }

    } elsif ($method eq 'GET' && $uri =~ m{^/?$}) {
        ($status, $type, $out) = (200, 'text/html; charset=utf-8', page());
    }

    sleep $delay if $delay;
    my $len = length $out;
    print $c "HTTP/1.1 $status X\r\nContent-Type: $type\r\n"
           . "Content-Length: $len\r\n\r\n$out";
}

# the document, whole or not at all
sub keep {
    my ($id, $doc) = @_;
    my $tmp = "$opt{dir}/.$id.$$";
    open my $fh, '>', $tmp or return 0;
    print $fh $json->encode($doc);
    close $fh or return 0;
    return rename $tmp, "$opt{dir}/$id.json";
}

sub append {
    my ($file, $text) = @_;
    open my $fh, '>>', "$opt{dir}/$file" or return;
    flock $fh, 2;
    print $fh "$text\n";
    close $fh;
}

sub page {
    opendir my $d, $opt{dir} or return '';
    my @ids = sort map { /^([A-Za-z0-9]+)\.json$/ ? $1 : () } readdir $d;
    my $rows = join '', map { "<li><code>$_</code></li>\n" } @ids;
    my $n = @ids;
    return <<"HTML";
<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>Demo archive</title></head>
<body><h1>Demo archive: $n applications</h1>
<p>What left Redis under gov_retention, as gov_archive reads it back.</p>
<ul>
$rows</ul></body></html>
HTML
}

sub logline {
    return unless $opt{log};
    open my $fh, '>>', $opt{log} or return;
    print $fh scalar(localtime), " $_[0]\n";
    close $fh;
}
