#!/usr/bin/perl

# Demo department approval backends for make run (core Perl only).
#
# One small HTTP server stands in for every department: it answers
#   GET  /departments/                 a list of the demo departments
#   POST /departments/DEPT/steps       takes a step, answers {"receipt":...}
#   GET  /departments/DEPT/status/RCPT the state of a step
#
# Usage: departments.pl [--port 9101] [--log FILE]

use strict;
use warnings;
use IO::Socket::INET;
use POSIX qw(strftime :sys_wait_h);
use Socket qw(SOMAXCONN);

my %opt = (port => 9101, log => '');
while (@ARGV) {
    my $k = shift;
    $k =~ s/^--// or die "usage: $0 [--port N] [--log FILE]\n";
    $opt{$k} = shift;
}

my %departments = (
    nhc     => '卫生健康委',
    cdc     => '疾控中心',
    police  => '公安局',
    medical => '医保局',
    hrss    => '人社局',
    amr     => '市场监管局',
    tax     => '税务局',
);

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $opt{port}, Proto => 'tcp',
                                   Listen => SOMAXCONN, ReuseAddr => 1)
    or die "departments: cannot listen on 127.0.0.1:$opt{port}: $!\n";

$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };
$SIG{TERM} = $SIG{INT} = sub { exit 0 };

my $seq = 0;

while (1) {
    my $c = $listen->accept or next;
    $seq++;
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        close $listen;
        serve($c) while !$c->eof;
        exit 0;
    }
    close $c;
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

    logline("$method $uri " . ($h{'x-gov-application'} // '-'));

    my ($status, $out) = (404, '{"error":"not_found"}');

    if ($method eq 'GET' && $uri eq '/departments/whoami') {
        my %who;
        for my $k (qw(subject actor name)) {
            my $v = $h{"x-gov-$k"};
            next unless defined $v;
            $v =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge;
            $v =~ s/(["\\])/\\$1/g;
            $who{$k} = $v;
        }
        $status = 200;
        $out = '{' . join(',', map { qq("$_":"$who{$_}") } sort keys %who)
             . '}';

    } elsif ($method eq 'GET' && $uri eq '/departments/') {
        $status = 200;
        $out = '{"departments":['
             . join(',', map { qq({"id":"$_","name":"$departments{$_}"}) }
                         sort keys %departments)
             . ']}';

    } elsif ($method eq 'POST' && $uri =~ m{^/departments/(\w+)/steps$}
             && $departments{$1})
    {
        my $receipt = uc($1) . strftime('%Y%m%d', localtime)
                    . sprintf('%05d%03d', $$ % 100000, $seq % 1000);
        $status = 200;
        $out = qq({"receipt":"$receipt"});

    } elsif ($method eq 'GET' && $uri =~ m{^/departments/(\w+)/status/(\w+)$}
             && $departments{$1})
    {
        $status = 200;
        $out = qq({"receipt":"$2","state":"received"});
    }

    my $len = length $out;
    print $c "HTTP/1.1 $status X\r\nContent-Type: application/json; "
           . "charset=utf-8\r\nContent-Length: $len\r\n\r\n$out";
}

sub logline {
    return unless $opt{log};
    open my $fh, '>>', $opt{log} or return;
    print $fh strftime('%Y-%m-%dT%H:%M:%S ', localtime), @_, "\n";
    close $fh;
}
