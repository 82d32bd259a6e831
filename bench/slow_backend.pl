#!/usr/bin/perl
# A department backend that answers every step after DELAY seconds.
#   slow_backend.pl PORT DELAY
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use POSIX qw(:sys_wait_h);

my ($port, $delay) = @ARGV;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                              Listen => 512, ReuseAddr => 1) or die "$!\n";
$SIG{CHLD} = 'IGNORE';
while (1) {
    my $c = $l->accept or next;
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        local $/ = "\r\n";
        my $len = 0;
        while (my $line = <$c>) {
            $len = $1 if $line =~ /^Content-Length:\s*(\d+)/i;
            last if $line eq "\r\n";
        }
        read($c, my $body, $len) if $len;
        sleep $delay;
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               . "Content-Length: 16\r\nConnection: close\r\n\r\n"
               . '{"receipt":"R1"}';
        exit 0;
    }
    close $c;
}
