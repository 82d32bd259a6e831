#!/usr/bin/perl

# Demo department approval backends for make run (core Perl only).
#
# One small HTTP server stands in for every department: it answers
#   GET  /departments/                 a list of the demo departments
#   POST /departments/DEPT/steps       takes a step, answers {"receipt":...}
#   GET  /departments/DEPT/status/RCPT the state of a step
#
# A step received is then moved along by a clerk: accepted (sometimes after
# a correction, 补正), reviewing, approved, delivered, each pushed to the
# portal through a signed callback (X-Gov-Signature: v2=HMAC over
# "TIMESTAMP\nMETHOD\nPATH\nBODY" with the department's secret), a few seconds to a
# minute apart, so that a tester watches the progress move.
#
# A correction asks for the step's first material and first field (补正告知,
# with a due date) and waits for the citizen's answer online (a POST with
# X-Gov-Correction: 1), or, after --wait seconds (default 10 x pace), goes
# on as if it came to the counter.  A POST with X-Gov-Withdrawal: 1 stops
# the clerk.  Approvals and deliveries carry a result (电子证照, 邮寄).
#
# Usage: departments.pl [--port 9101] [--log FILE]
#            [--callback http://127.0.0.1:8080/callback] [--secrets DIR]
#            [--pace SECONDS] [--state DIR] [--wait SECONDS]
#            [--corrections SHARE]   (of steps asked to correct, 0.2)

use strict;
use warnings;
use Digest::SHA qw(hmac_sha256_hex sha1_hex);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use POSIX qw(strftime :sys_wait_h);
use Socket qw(SOMAXCONN);

my %opt = (port => 9101, log => '', callback => 'http://127.0.0.1:8080/callback',
           secrets => "$FindBin::Bin/secrets", pace => 20, state => '',
           wait => '', corrections => 0.2);
while (@ARGV) {
    my $k = shift;
    $k =~ s/^--// or die "usage: $0 [--port N] [--log FILE] [--callback URL]"
                        . " [--secrets DIR] [--pace S] [--state DIR]"
                        . " [--wait S] [--corrections SHARE]\n";
    $opt{$k} = shift;
}

$opt{wait} ||= 10 * $opt{pace};
$opt{state} ||= tempdir('gov-departments-XXXXXX', TMPDIR => 1, CLEANUP => 1);
make_path($opt{state});

my %departments = (
    nhc     => '卫生健康委',
    cdc     => '疾控中心',
    police  => '公安局',
    medical => '医保局',
    hrss    => '人社局',
    amr     => '市场监管局',
    tax     => '税务局',
    gw_bj   => '北京市政务服务中心（跨省通办）',
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

    } elsif ($method eq 'GET' && $uri =~ m{^/licences\?(.*)$}) {
        # the demo licence library (电子证照库, gov_elicense): it holds
        # every licence of every demo citizen but 李四's marriage
        # certificate, so the portal's 422 elicense_not_found can be seen
        my %q = map { my ($k, $v) = split /=/, $_, 2;
                      $v //= ''; $v =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge;
                      ($k => $v) } split /&/, $1;
        if (($q{holder} // '') eq '310101198505052345'
            && ($q{material} // '') eq 'marriage_cert')
        {
            ($status, $out) = (404, '{"error":"no_such_licence"}');
        } else {
            ($status, $out) = (200, '{"holder":"held"}');
        }

    } elsif ($method eq 'GET' && $uri eq '/departments/') {
        $status = 200;
        $out = '{"departments":['
             . join(',', map { qq({"id":"$_","name":"$departments{$_}"}) }
                         sort keys %departments)
             . ']}';

    } elsif ($method eq 'POST' && $uri =~ m{^/departments/(\w+)(?:/steps)?$}
             && $departments{$1})
    {
        my $dept = $1;
        my $app = $h{'x-gov-application'} // '';
        my $item = $h{'x-gov-item'} // '';

        if ($app !~ /^[A-Z0-9]{10,20}$/ || $item !~ /^[\w-]{1,64}$/) {
            $status = 400;
            $out = '{"reason":"missing X-Gov-Application or X-Gov-Item"}';
        } else {
            # the same application and item always get the same receipt,
            # and only one clerk: deliveries may be repeated
            my $receipt = uc($dept) . '-' . uc(substr(sha1_hex("$app/$item"),
                                                      0, 10));
            $status = 200;
            $out = qq({"receipt":"$receipt"});

            # news of a step it has: an answer to a correction, a withdrawal
            for my $news (qw(correction withdrawal)) {
                next unless ($h{"x-gov-$news"} // '') eq '1';
                if (open my $fh, '>', "$opt{state}/$app-$item.$news") {
                    print $fh $body;
                    close $fh;
                }
                $item = '';
            }

            my $mark = "$opt{state}/$app-$item";
            if ($item ne ''
                && sysopen(my $fh, $mark, POSIX::O_CREAT | POSIX::O_EXCL
                                          | POSIX::O_WRONLY))
            {
                close $fh;
                clerk($dept, $app, $item, $receipt, $body);
            }
        }

    } elsif ($method eq 'GET' && $uri =~ m{^/departments/(\w+)/status/([\w-]+)$}
             && $departments{$1})
    {
        # the clerk's last state for this step (the portal's read-through)
        my $receipt = $2;
        my ($app, $item) = ($h{'x-gov-application'} // '',
                            $h{'x-gov-item'} // '');
        my $state = 'received';
        if ($app =~ /^[A-Z0-9]+$/ && $item =~ /^[\w-]+$/
            && open my $fh, '<', "$opt{state}/$app-$item.state")
        {
            $state = <$fh> // 'received';
            $state =~ s/\s+$//;
        }
        $status = 200;
        $out = qq({"receipt":"$receipt","state":"$state"});
    }

    my $len = length $out;
    print $c "HTTP/1.1 $status X\r\nContent-Type: application/json; "
           . "charset=utf-8\r\nContent-Length: $len\r\n\r\n$out";
}

# moves a step along, in a process of its own
sub clerk {
    my ($dept, $app, $item, $receipt, $step) = @_;

    my $pid = fork;
    return if !defined $pid || $pid;

    my @moves;
    my $r = rand;

    if ($r < $opt{corrections}) {
        @moves = ('correction', 'received', 'accepted', 'reviewing',
                  'approved', 'delivered');
    } elsif ($r < 0.3) {
        @moves = ('accepted', 'special', 'reviewing', 'approved');
    } else {
        @moves = ('accepted', 'reviewing', 'approved', 'delivered');
    }

    # what a correction asks: the step's first material and field
    my ($material) = $step =~ /"materials":\{"([\w-]+)"/;
    my ($field) = $step =~ /"fields":\{"([\w-]+)"/;
    my $due = strftime('%Y-%m-%d', localtime(time + 14 * 86400));
    my $i = 0;

    while ($i < @moves) {
        my $state = $moves[$i++];

        sleep($opt{pace} / 2 + int(rand($opt{pace})));
        last if -e "$opt{state}/$app-$item.withdrawal";

        my $extra = '';
        if ($state eq 'correction') {
            $extra = qq(,"note":"请补正：材料不清晰，请重新提供")
                   . qq(,"request":{"materials":[)
                   . ($material ? qq("$material") : '') . qq(],"fields":[)
                   . ($field ? qq("$field") : '') . qq(],"note":)
                   . qq("材料不清晰，请重新提供；请核对填写的信息","due":"$due"});
        } elsif ($state eq 'special') {
            $extra = qq(,"note":"需现场核验，特别程序");
        } elsif ($state eq 'approved') {
            $extra = qq(,"result":{"kind":"elicense","number":"$receipt",)
                   . qq("note":"可在电子证照中查看"});
        } elsif ($state eq 'delivered') {
            $extra = qq(,"result":{"kind":"mail","number":"SF$receipt"});
        }

        my $body = qq({"state":"$state","receipt":"$receipt"$extra});
        my $code = callback($dept, $app, $item, $body);
        logline("callback $app/$item $state -> $code");

        if ($code == 422 && $state eq 'correction') {
            # the step's payload holds the whole application: the first
            # material or field may be another item's; ask in words only
            $body = qq({"state":"correction","receipt":"$receipt",)
                  . qq("note":"请补正：材料不清晰，请重新提供",)
                  . qq("request":{"note":"请携带原件到窗口核验，或在线补充说明",)
                  . qq("due":"$due"}});
            $code = callback($dept, $app, $item, $body);
            logline("callback $app/$item $state (words only) -> $code");
        }

        last if $code != 204;

        if (open my $fh, '>', "$opt{state}/$app-$item.state") {
            print $fh "$state\n";
            close $fh;
        }

        if ($state eq 'correction') {
            # the answer online, or the counter after a while
            my $until = time + $opt{wait};
            sleep 1 while time < $until
                          && !-e "$opt{state}/$app-$item.correction"
                          && !-e "$opt{state}/$app-$item.withdrawal";
            last if -e "$opt{state}/$app-$item.withdrawal";
            if (-e "$opt{state}/$app-$item.correction"
                && $i < @moves && $moves[$i] eq 'received')
            {
                # the portal moved the step to received when we took it
                $i++;
            }
        }
    }

    exit 0;
}

sub callback {
    my ($dept, $app, $item, $body) = @_;

    local $/ = "\n";
    open my $fh, '<', "$opt{secrets}/$dept.secret" or return 0;
    my $secret = <$fh>;
    close $fh;
    chomp $secret;

    my ($host, $port, $path) = $opt{callback} =~ m{^http://([^:/]+):?(\d*)(/.*)$}
        or return 0;
    $port ||= 80;

    my $ts = time;
    # v2: the timestamp, method, path and body, one line each
    my $sig = 'v2=' . hmac_sha256_hex("$ts\nPOST\n$path/$app/$item\n$body",
                                      $secret);

    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return 0;

    { use bytes; print $s "POST $path/$app/$item HTTP/1.0\r\nHost: $host\r\n"
                  . "Content-Type: application/json\r\n"
                  . "Content-Length: " . length($body) . "\r\n"
                  . "X-Gov-Timestamp: $ts\r\nX-Gov-Signature: $sig\r\n\r\n"
                  . $body; }

    my $line = <$s> // '';
    close $s;

    return $line =~ m{^HTTP/\S+ (\d+)} ? $1 : 0;
}

sub logline {
    return unless $opt{log};
    open my $fh, '>>', $opt{log} or return;
    print $fh strftime('%Y-%m-%dT%H:%M:%S ', localtime), @_, "\n";
    close $fh;
}
