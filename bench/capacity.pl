#!/usr/bin/perl

# bench/capacity.pl: the days of bench/capacity.sh (core Perl only).
#
#   capacity.pl PORT REDIS_PORT WORK DAYS PER_DAY SECRET TOKEN
#
# Day by day, nginx's clock moved (WORK/faketime, libfaketime): PER_DAY
# applications of the two-item bundle, each then, by its number: one in
# ten withdrawn, one in twenty asked for a correction that the citizen
# answers before both steps are approved, the rest approved (one in ten of
# them denied); three in ten rated.  Before a day starts, what is due has
# left Redis (or 60 s passed), and the keys that expire on Redis's clock
# within the day (callback replay guards, 15 minutes) are deleted: that
# clock does not move (libfaketime hangs redis-server).  One line a day: the day, Redis's
# used_memory, the applications in Redis, those the archive holds, its
# deliveries.

use strict;
use warnings;
use lib do { my $d = __FILE__; $d =~ s{[^/]*$}{}; ($d || './') . '../t/lib' };
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use JSON::PP;
use Time::HiRes qw(sleep time);
use GovTest ();

my ($port, $rport, $work, $days, $per_day, $secret, $token) = @ARGV;
die "usage: $0 PORT REDIS_PORT WORK DAYS PER_DAY SECRET TOKEN\n"
    unless defined $token;

my $offset = 0;
my $auth = { Authorization => "Bearer $token",
             'Content-Type' => 'application/json' };

sub redis {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $rport) or die "redis: $!\n";
    print $s join('', '*' . @_ . "\r\n",
                  map { '$' . length($_) . "\r\n$_\r\n" } @_);
    local $/ = "\r\n";
    my $l = <$s>;
    if ($l =~ /^\$(-?\d+)/) {
        return undef if $1 < 0;
        read($s, my $v, $1 + 2);
        return substr($v, 0, -2);
    }
    $l =~ s/\r\n$//;
    return substr($l, 1);
}

sub used_memory {
    my $info = redis('INFO', 'memory');
    return $info =~ /used_memory:(\d+)/ ? $1 : 0;
}

# the keys matching a pattern (SCAN), deleted too with "del"
sub keys_of {
    my ($pattern, $del) = @_;
    my ($cursor, $n) = (0, 0);
    do {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $rport)
            or die "redis: $!\n";
        print $s resp('SCAN', $cursor, 'MATCH', $pattern, 'COUNT', 10000);
        local $/ = "\r\n";
        <$s>;                                   # *2
        <$s>;                                   # $len
        ($cursor = <$s>) =~ s/\r\n//;
        my ($k) = <$s> =~ /^\*(\d+)/;
        my @keys;
        for (1 .. $k) { <$s>; (my $key = <$s>) =~ s/\r\n//; push @keys, $key }
        if ($del && @keys) {
            print $s resp('UNLINK', @keys);
            <$s>;
        }
        $n += $k;
    } while ($cursor ne '0');
    return $n;
}

sub resp {
    return join '', '*' . @_ . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @_;
}

sub live { keys_of('gov:app:*') }

# one keep-alive connection, each request written at once (HTTP::Tiny
# writes headers and body apart: Nagle and the delayed ACK, 40 ms each)
my $conn;

sub request {
    my ($method, $path, $body, $headers) = @_;
    $headers ||= $auth;
    $body //= '';
    for my $try (1, 2) {
        $conn ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                        PeerPort => $port)
            or die "connect: $!\n";
        setsockopt($conn, IPPROTO_TCP, TCP_NODELAY, 1);
        my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                . join('', map { "$_: $headers->{$_}\r\n" } keys %$headers)
                . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
        utf8::encode($req) if utf8::is_utf8($req);
        next unless print $conn $req;
        local $/ = "\r\n";
        my $line = <$conn>;
        if (!defined $line) { undef $conn; next; }
        my ($status) = $line =~ m{^HTTP/1\.\d (\d+)};
        my ($len, $close) = (0, 0);
        while (defined(my $h = <$conn>)) {
            last if $h eq "\r\n";
            $len = $1 if $h =~ /^Content-Length:\s*(\d+)/i;
            $close = 1 if $h =~ /^Connection:\s*close/i;
        }
        my $content = '';
        read($conn, $content, $len) if $len;
        undef $conn if $close;
        return { status => $status, content => $content };
    }
    die "$method $path: no answer\n";
}

sub callback {
    my ($id, $item, $doc) = @_;
    my $path = "/callback/$id/$item";
    my $body = encode_json($doc);
    my $ts = int(time) + $offset;       # nginx's clock, moved
    my $res = request('POST', $path, $body, {
        'Content-Type' => 'application/json', 'X-Gov-Timestamp' => $ts,
        'X-Gov-Signature' => GovTest::sig_v2($secret, $ts, 'POST', $path,
                                             $body) });
    warn "callback $id $item $doc->{state}: $res->{status}\n"
        unless $res->{status} =~ /^2/;
}

sub archived {
    opendir my $d, "$work/archive" or return (0, 0);
    my $n = grep { /\.json$/ } readdir $d;
    my $log = "$work/archive/deliveries.log";
    my $deliveries = -s $log ? do {
        open my $fh, '<', $log; my $c = 0; $c++ while <$fh>; $c } : 0;
    return ($n, $deliveries);
}

my $submitted = 0;
my $withdrawn = 0;
my $failed = 0;

$SIG{__WARN__} = sub { $failed++; print STDERR @_ };

$| = 1;
print "# day used_memory in_redis archived deliveries seconds\n";
my $started = time;

for my $day (0 .. $days - 1) {
    $offset = $day * 86400;
    open my $fh, '>', "$work/faketime" or die "$work/faketime: $!\n";
    print $fh "+${offset}s\n";
    close $fh;
    sleep 0.2;

    # what is due has left (the sweep, the archive's acknowledgements; an
    # application whose archived event is on its way is looked at again
    # a minute later)
    my $end = time + 60;
    while (time < $end) {
        my $due = redis('ZCOUNT', 'gov:final', '-inf',
                        (int(time) + $offset + 90) * 1000);
        last if !$due;
        sleep 0.5;
    }

    # keys with a time to live on Redis's clock, which does not move: the
    # callbacks' replay guards (15 minutes) are gone by the next day
    keys_of('gov:replay:*', 1);

    my ($arch, $deliv) = archived();
    printf "%d %d %d %d %d %.0f\n", $day, used_memory(), live(), $arch,
           $deliv, time - $started;

    for my $n (1 .. $per_day) {
        my $res = request('POST', '/bundles/newborn/applications',
                          encode_json({ fields => { name => "王$n" },
                                        materials => { id_card => "r-$n" }
                                      }));
        if ($res->{status} != 201) {
            warn "submission: $res->{status} $res->{content}\n";
            next;
        }
        my $id = decode_json($res->{content})->{id};
        $submitted++;

        if ($n % 10 == 0) {
            $res = request('POST', "/progress/$id/withdrawal",
                           encode_json({ reason => '不办了' }));
            warn "withdrawal: $res->{status}\n" unless $res->{status} == 200;
            $withdrawn++;
            next;
        }

        if ($n % 20 == 1) {
            callback($id, 'nhc', { state => 'correction',
                                   request => { fields => [ 'name' ],
                                                note => '姓名有误' } });
            $res = request('POST', "/progress/$id/steps/nhc/correction",
                           encode_json({ fields => { name => "王$n" } }));
            warn "correction: $res->{status}\n" unless $res->{status} == 202;
        }

        my $end_state = $n % 10 == 3 ? 'denied' : 'approved';
        for my $item (qw(nhc cdc)) {
            callback($id, $item, { state => $_ }) for 'accepted', $end_state;
        }

        if ($n % 10 < 3) {
            $res = request('POST', "/progress/$id/rating",
                           encode_json({ score => 3 + $n % 3 }));
            warn "rating: $res->{status}\n" unless $res->{status} == 204;
        }
    }
}

my ($arch, $deliv) = archived();
printf "# submitted %d, withdrawn %d, archived %d, deliveries %d, "
       . "requests not answered as expected %d\n",
       $submitted, $withdrawn, $arch, $deliv, $failed;
