#!/usr/bin/perl

# Demo notification targets for make run (core Perl only), wired in
# conf/nginx.conf with gov_notify:
#
#   POST /sms/      an event of the portal (JSON, X-Gov-Event-Id): the
#                   text message a citizen would get, in Chinese, logged
#                   ("【一网通办】您的新生儿出生一件事（NB…）户口登记已受理")
#   GET  /sms/      the messages sent, newest first (a page)
#   POST /haocha/   a rating event, reported to the demo national 好差评
#                   system
#   GET  /haocha/   the ratings received, with their average (a page)
#
# Both recognise an event seen before by its X-Gov-Event-Id (delivery is
# at least once) and answer 200 without sending it again.  Names of
# bundles and items come from the portal's own guide (GET /bundles/ID).
#
# Usage: notify.pl [--port 9102] [--portal http://127.0.0.1:8080]
#                  [--state DIR] [--log FILE]

use strict;
use warnings;
use utf8;
use Encode qw(encode_utf8 decode_utf8);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(strftime :sys_wait_h);
use Socket qw(SOMAXCONN);

my %opt = (port => 9102, portal => 'http://127.0.0.1:8080', state => '',
           log => '');
while (@ARGV) {
    my $k = shift;
    $k =~ s/^--// or die "usage: $0 [--port N] [--portal URL] [--state DIR]"
                        . " [--log FILE]\n";
    $opt{$k} = shift;
}

$opt{state} ||= tempdir('gov-notify-XXXXXX', TMPDIR => 1, CLEANUP => 1);
make_path("$opt{state}/seen");

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $opt{port}, Proto => 'tcp',
                                   Listen => SOMAXCONN, ReuseAddr => 1)
    or die "notify: cannot listen on 127.0.0.1:$opt{port}: $!\n";

$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };
$SIG{TERM} = $SIG{INT} = sub { exit 0 };

my $json = JSON::PP->new->utf8->canonical;

# what a step's new state means to the citizen; others send no message
my %moved = (
    accepted  => '已受理',
    approved  => '已办结',
    delivered => '已办结，结果已送达',
    denied    => '未予批准，详情请查看办件进度',
);

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
    my $id = $h{'x-gov-event-id'} // '';

    if ($method eq 'POST' && $uri =~ m{^/(sms|haocha)/?$}) {
        my $target = $1;
        my $ev = eval { $json->decode($body) };

        if (!$ev || $id !~ /^\d+-\d+$/ || ($ev->{id} // '') ne $id) {
            ($status, $out) = (400, '{"error":"not_an_event"}');

        } elsif (!first_time($target, $id)) {
            ($status, $out) = (200, '{"duplicate":true}');

        } else {
            my $text = $target eq 'sms' ? sms($ev) : haocha($ev);
            if (defined $text) {
                record($target, { id => $id, at => $ev->{at}, text => $text,
                                  to => $ev->{subject},
                                  score => $ev->{score} });
                logline("$target $id $text");
            }
            ($status, $out) = (200, '{"ok":true}');
        }

    } elsif ($method eq 'GET' && $uri =~ m{^/(sms|haocha)/?$}) {
        ($status, $type, $out) = (200, 'text/html; charset=utf-8',
                                  page($1));
    }

    $out = encode_utf8($out) if utf8::is_utf8($out);
    my $len = length $out;
    print $c "HTTP/1.1 $status X\r\nContent-Type: $type\r\n"
           . "Content-Length: $len\r\n\r\n$out";
}

# an event id not seen before (the mark is made at once: one message)
sub first_time {
    my ($target, $id) = @_;
    return sysopen(my $fh, "$opt{state}/seen/$target-$id",
                   POSIX::O_CREAT | POSIX::O_EXCL | POSIX::O_WRONLY);
}

sub sms {
    my ($ev) = @_;
    my $guide = guide($ev->{bundle});
    my $what = ($guide->{name} // $ev->{bundle}) . "（$ev->{application}）";
    my ($item) = grep { $_->{id} eq ($ev->{item} // '') }
                 @{ $guide->{items} || [] };
    my $iname = $item ? $item->{name} : ($ev->{item} // '');

    my $news;
    if ($ev->{type} eq 'submitted') {
        $news = '已提交，我们已一次推送至各有关部门';
    } elsif ($ev->{type} eq 'correction_requested') {
        $news = "${iname}需要补正，请登录办件进度查看并在线补正";
    } elsif ($ev->{type} eq 'withdrawn') {
        $news = '已撤回，各部门已停止办理';
    } elsif ($ev->{type} eq 'supplied') {
        $news = '承诺后补的材料已收到，已转交有关部门';
    } elsif ($ev->{type} eq 'promise_overdue') {
        my ($m) = grep { $_->{id} eq ($ev->{material} // '') }
                  @{ $guide->{materials} || [] };
        $news = '承诺后补的' . ($m ? $m->{name} : '材料')
              . '已逾期，请尽快登录办件进度补交';
    } elsif ($ev->{type} eq 'step' && $moved{ $ev->{to} // '' }) {
        $news = $iname . $moved{ $ev->{to} };
    }

    return defined $news ? "【一网通办】您的$what$news" : undef;
}

sub haocha {
    my ($ev) = @_;
    return undef unless ($ev->{type} // '') eq 'rated';
    my $guide = guide($ev->{bundle});
    return "【好差评】" . ($guide->{name} // $ev->{bundle})
         . "（$ev->{application}）评价 $ev->{score} 分";
}

# the bundle's guide from the portal, kept once fetched
sub guide {
    my ($bundle) = @_;
    return {} unless ($bundle // '') =~ /^[\w-]+$/;
    my $file = "$opt{state}/guide-$bundle.json";
    if (open my $fh, '<', $file) {
        local $/;
        my $g = eval { $json->decode(<$fh>) };
        return $g if $g;
    }
    my $res = HTTP::Tiny->new(timeout => 2)->get(
        "$opt{portal}/bundles/$bundle", { headers => {
            Accept => 'application/json' } });
    my $g = $res->{success} ? eval { $json->decode($res->{content}) } : undef;
    return {} unless $g;
    if (open my $fh, '>', $file) {
        print $fh $json->encode($g);
        close $fh;
    }
    return $g;
}

sub record {
    my ($target, $entry) = @_;
    open my $fh, '>>', "$opt{state}/$target.jsonl" or return;
    flock $fh, 2;
    print $fh $json->encode($entry), "\n";
    close $fh;
}

sub entries {
    my ($target) = @_;
    open my $fh, '<', "$opt{state}/$target.jsonl" or return ();
    local $/ = "\n";
    return map { eval { $json->decode($_) } || () } <$fh>;
}

sub page {
    my ($target) = @_;
    my @all = reverse entries($target);
    my $title = $target eq 'sms' ? '演示短信网关：已发送的短信'
                                 : '演示全国好差评系统：收到的评价';
    my $rows = join '', map {
        my $when = strftime('%Y-%m-%d %H:%M:%S',
                            localtime(int(($_->{at} // 0) / 1000)));
        '<li><span class="when">' . esc($when) . '</span> '
        . ($target eq 'sms' ? '致 ' . esc($_->{to} // '') . '：' : '')
        . esc($_->{text}) . '</li>'
    } @all;
    my $sum = '';
    if ($target eq 'haocha' && @all) {
        my $total = 0;
        $total += $_->{score} // 0 for @all;
        $sum = sprintf('<p>共 %d 条评价，平均 %.1f 分。</p>', scalar @all,
                       $total / @all);
    }
    return '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
         . '<meta name="viewport" content="width=device-width, '
         . 'initial-scale=1"><meta http-equiv="refresh" content="5">'
         . "<title>$title</title>"
         . '<body style="font-size:20px;line-height:1.6;max-width:44em;'
         . 'margin:auto;padding:1em"><h1>' . $title . '</h1>'
         . ($sum || '')
         . (@all ? "<ol reversed>$rows</ol>"
                 : '<p>还没有。办理一件事后，这里会列出。</p>')
         . '<p><a href="/">返回演示门户</a></p></body></html>';
}

sub esc {
    my ($s) = @_;
    $s = decode_utf8($s) unless utf8::is_utf8($s);
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    $s =~ s/>/&gt;/g;
    $s =~ s/"/&quot;/g;
    return $s;
}

sub logline {
    return unless $opt{log};
    open my $fh, '>>', $opt{log} or return;
    binmode $fh, ':encoding(UTF-8)';
    print $fh strftime('%Y-%m-%dT%H:%M:%S ', localtime), @_, "\n";
    close $fh;
}
