#!/usr/bin/perl

# A DEMO OpenID Connect provider for make run (core Perl only): it stands
# in for a province's unified identity platform (统一身份认证) so that the
# portal logs in through the real flow (gov_oidc in conf/nginx.conf).
#
#   GET  /idp/.well-known/openid-configuration   discovery
#   GET  /idp/authorize    a page: pick a demo citizen or agent, or cancel
#   POST /idp/authorize    the pick: back to redirect_uri with a code (or
#                          error=access_denied), state and iss
#   POST /idp/token        client_secret_basic, PKCE S256, the code once:
#                          an ID token (ES256, the demo key) with the nonce
#   GET  /idp/jwks         the public key
#   GET  /idp/logout       signed out; back to post_logout_redirect_uri
#
# The key is the demo key in conf/demo/keys (public knowledge: never use
# it, or this provider, in production).  ID tokens are minted by gov-token.
#
# Usage: idp.pl [--port 9103] [--issuer URL] [--client gov-portal]
#               [--secret FILE] [--key FILE] [--token GOV_TOKEN]
#               [--state DIR] [--log FILE]

use strict;
use warnings;
use utf8;
use Digest::SHA qw(sha256);
use Encode qw(encode_utf8 decode_utf8);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64 encode_base64url);
use POSIX qw(strftime :sys_wait_h);
use Socket qw(SOMAXCONN);

my $here = dirname(__FILE__);

my %opt = (port => 9103, client => 'gov-portal',
           secret => "$here/secrets/oidc-client",
           key => "$here/keys/demo-es256.key",
           token => "$here/../../build/gov-token", state => '', log => '',
           kid => 'demo-idp-2026');
while (@ARGV) {
    my $k = shift;
    $k =~ s/^--// or die "usage: $0 [--port N] [--issuer URL] [--client ID]"
                        . " [--secret FILE] [--key FILE] [--token PATH]"
                        . " [--state DIR] [--log FILE]\n";
    $opt{$k} = shift;
}

$opt{issuer} ||= "http://127.0.0.1:$opt{port}/idp";
$opt{state} ||= tempdir('gov-idp-XXXXXX', TMPDIR => 1, CLEANUP => 1);
make_path("$opt{state}/codes");

my $iss = $opt{issuer};
my $secret = slurp($opt{secret});
$secret =~ s/\s+\z//;

# the demo people: citizens, and an agent acting for one (帮办代办)
my @people = (
    { id => 'zhang', sub => '110101199001011234', name => '张三',
      label => '张三（市民本人）' },
    { id => 'li', sub => '310101198505052345', name => '李四',
      label => '李四（市民本人）' },
    { id => 'agent', sub => '110101199001011234', name => '张三',
      act => 'AGENT-0001', agent => '王五',
      label => '王五（帮办代办，代张三办理）' },
    { id => 'operator', sub => 'OP-0001', name => '赵六', role => 'operator',
      label => '赵六（政务服务中心工作人员，差评整改）' },
);
my %person = map { $_->{id} => $_ } @people;

my $json = JSON::PP->new->utf8->canonical;
my $jwks = run_tool('--key', $opt{key}, '--alg', 'ES256', '--kid', $opt{kid},
                    '--print-jwks');

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $opt{port}, Proto => 'tcp',
                                   Listen => SOMAXCONN, ReuseAddr => 1)
    or die "idp: cannot listen on 127.0.0.1:$opt{port}: $!\n";

$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };
$SIG{TERM} = $SIG{INT} = sub { exit 0 };

logline("demo identity provider on $iss");

while (1) {
    my $c = $listen->accept or next;
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        close $listen;
        $SIG{CHLD} = 'DEFAULT';
        serve($c);
        exit 0;
    }
    close $c;
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "idp: $f: $!\n";
    local $/;
    return scalar <$fh>;
}

sub logline {
    return unless $opt{log};
    open my $fh, '>>', $opt{log} or return;
    print $fh strftime('%F %T ', localtime), encode_utf8($_[0]), "\n";
}

sub run_tool {
    open my $fh, '-|', $opt{token}, @_ or die "idp: gov-token: $!\n";
    local $/;
    my $out = <$fh>;
    close $fh;
    die "idp: gov-token failed: @_\n" if $?;
    $out =~ s/\s+\z//;
    return $out;
}

sub unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return decode_utf8($s);
}

sub escape {
    my ($s) = @_;
    $s = encode_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub html {
    my ($s) = @_;
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    $s =~ s/>/&gt;/g;
    $s =~ s/"/&quot;/g;
    return $s;
}

sub form {
    return map { my ($k, $v) = split /=/, $_, 2;
                 (unescape($k) => unescape($v // '')) }
           grep { length } split /&/, $_[0] // '';
}

sub answer {
    my ($c, $status, $type, $body, %h) = @_;
    $body = encode_utf8($body) if utf8::is_utf8($body);
    my $out = "HTTP/1.1 $status X\r\nContent-Type: $type\r\n"
              . "Cache-Control: no-store\r\n";
    $out .= "$_: $h{$_}\r\n" for sort keys %h;
    $out .= "Content-Length: " . length($body) . "\r\n"
            . "Connection: close\r\n\r\n$body";
    print $c $out;
}

sub page {
    my ($title, $main) = @_;
    return <<HTML;
<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · 统一身份认证平台（演示）</title>
<style>
body { font-size: 20px; line-height: 1.6; max-width: 40em; margin: auto;
       padding: 1em; color: #111; background: #fff; }
.demo { background: #fff3cd; border: 2px solid #b58100; padding: .5em 1em; }
button, a.button { display: block; width: 100%; margin: 1em 0; padding: 1em;
       font-size: 1.1em; min-height: 48px; border-radius: 8px;
       border: 2px solid #0b57d0; background: #fff; color: #0b57d0;
       text-align: left; cursor: pointer; text-decoration: none; }
button.cancel { border-color: #666; color: #333; }
button:focus, button:hover { background: #e8f0fe; }
</style>
</head>
<body>
<p class="demo"><strong>演示环境 DEMO</strong>：这是演示用的统一身份认证平台，
用演示密钥签发身份凭证，仅供测试，切勿用于生产。</p>
$main
</body>
</html>
HTML
}

sub serve {
    my ($c) = @_;
    $c->autoflush(1);
    local $/ = "\r\n";

    my $line = <$c> // return;
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
    my ($path, $query) = split /\?/, $uri, 2;

    if ($path eq '/idp/.well-known/openid-configuration') {
        return answer($c, 200, 'application/json', $json->encode({
            issuer => $iss,
            authorization_endpoint => "$iss/authorize",
            token_endpoint => "$iss/token",
            jwks_uri => "$iss/jwks",
            end_session_endpoint => "$iss/logout",
            response_types_supported => ['code'],
            subject_types_supported => ['public'],
            id_token_signing_alg_values_supported => ['ES256'],
            code_challenge_methods_supported => ['S256'],
            token_endpoint_auth_methods_supported => ['client_secret_basic'],
            scopes_supported => [qw(openid profile)],
            authorization_response_iss_parameter_supported => JSON::PP::true,
        }));
    }

    if ($path eq '/idp/jwks') {
        return answer($c, 200, 'application/json', $jwks);
    }

    if ($path eq '/idp/authorize' && $method eq 'GET') {
        return authorize_page($c, { form($query) });
    }

    if ($path eq '/idp/authorize' && $method eq 'POST') {
        return authorize_pick($c, { form($body) });
    }

    if ($path eq '/idp/token' && $method eq 'POST') {
        return token($c, \%h, { form($body) });
    }

    if ($path eq '/idp/logout') {
        my %q = form($query);
        my $back = ($q{post_logout_redirect_uri} // '') =~ m{^https?://}
                   ? '<p><a class="button" href="'
                     . html($q{post_logout_redirect_uri})
                     . '">返回一网通办</a></p>' : '';
        logline("signed out ($q{client_id})") if $q{client_id};
        return answer($c, 200, 'text/html; charset=utf-8',
                      page('已退出', "<h1>您已退出统一身份认证平台</h1>$back"));
    }

    return answer($c, 404, 'application/json', '{"error":"not_found"}');
}

sub authorize_page {
    my ($c, $q) = @_;

    if (($q->{client_id} // '') ne $opt{client}
        || ($q->{response_type} // '') ne 'code'
        || ($q->{code_challenge_method} // '') ne 'S256'
        || !$q->{code_challenge} || !$q->{state}
        || ($q->{redirect_uri} // '') !~ m{^https?://})
    {
        return answer($c, 400, 'text/html; charset=utf-8',
                      page('请求有误', '<h1>登录请求有误</h1>'
                           . '<p>缺少参数或客户端未登记。</p>'));
    }

    my $hidden = join '', map {
        '<input type="hidden" name="' . html($_) . '" value="'
        . html($q->{$_}) . '">'
    } grep { /^(client_id|redirect_uri|state|nonce|code_challenge|scope)$/ }
      sort keys %$q;

    my $who = join "\n", map {
        qq{<button type="submit" name="who" value="$_->{id}">$_->{label}</button>}
    } @people;

    return answer($c, 200, 'text/html; charset=utf-8', page('登录', <<HTML));
<h1>统一身份认证平台</h1>
<p>一网通办 请求确认您的身份。请选择演示身份：</p>
<form method="post" action="/idp/authorize">
$hidden
$who
<button class="cancel" type="submit" name="who" value="cancel">取消，不登录</button>
</form>
HTML
}

sub authorize_pick {
    my ($c, $f) = @_;
    my $back = ($f->{redirect_uri} // '');

    if ($back !~ m{^https?://} || !$f->{state}) {
        return answer($c, 400, 'text/html; charset=utf-8',
                      page('请求有误', '<h1>登录请求有误</h1>'));
    }

    $back .= ($back =~ /\?/ ? '&' : '?') . 'state=' . escape($f->{state})
             . '&iss=' . escape($iss);

    my $p = $person{ $f->{who} // '' };
    if (!$p) {
        logline('a citizen cancelled the login');
        return answer($c, 302, 'text/html', '',
                      Location => "$back&error=access_denied");
    }

    my $code = unpack 'H*', join '', map { chr int rand 256 } 1 .. 20;
    open my $fh, '>', "$opt{state}/codes/$code" or die "idp: code: $!\n";
    print $fh $json->encode({ %$f, person => $p->{id}, at => time });
    close $fh;

    logline("$p->{label} logged in");
    return answer($c, 302, 'text/html', '', Location => "$back&code=$code");
}

sub token {
    my ($c, $h, $f) = @_;
    my $want = 'Basic ' . encode_base64(escape($opt{client}) . ':'
                                        . escape($secret), '');
    if (($h->{authorization} // '') ne $want) {
        return answer($c, 401, 'application/json',
                      '{"error":"invalid_client"}',
                      'WWW-Authenticate' => 'Basic realm="idp"');
    }

    my ($code) = ($f->{code} // '') =~ /^([0-9a-f]{40})$/;
    my $file = "$opt{state}/codes/" . ($code // 'none');
    my $rec = -e $file ? decode_json(slurp($file)) : undef;
    unlink $file;

    if (($f->{grant_type} // '') ne 'authorization_code' || !$rec
        || time - $rec->{at} > 60
        || ($f->{redirect_uri} // '') ne $rec->{redirect_uri}
        || encode_base64url(sha256($f->{code_verifier} // ''))
           ne $rec->{code_challenge})
    {
        return answer($c, 400, 'application/json',
                      '{"error":"invalid_grant"}');
    }

    my $p = $person{ $rec->{person} };
    my @args = ('--key', $opt{key}, '--alg', 'ES256', '--kid', $opt{kid},
                '--iss', $iss, '--aud', $opt{client}, '--ttl', 300,
                '--sub', $p->{sub}, '--name', $p->{name},
                '--claim', "nonce=$rec->{nonce}");
    push @args, '--act', $p->{act}, '--claim', "agent_name=$p->{agent}"
        if $p->{act};
    push @args, '--claim', "role=$p->{role}" if $p->{role};

    my $id = run_tool(map { utf8::is_utf8($_) ? encode_utf8($_) : $_ }
                      @args);

    return answer($c, 200, 'application/json', $json->encode({
        access_token => unpack('H*', join '', map { chr int rand 256 }
                                                  1 .. 16),
        token_type => 'Bearer', expires_in => 300, id_token => $id }));
}
