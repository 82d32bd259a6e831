package GovTest;

# A small harness for ngx_gov_module tests: core Perl only.
#
#   my $t = GovTest->new;
#   my $rport = $t->start_redis;
#   my $bport = $t->backend(sub { my ($req) = @_; { status => 200 } });
#   $t->write_conf(http => '...', server => '...');
#   $t->start_nginx;
#   my $res = $t->get('/path');
#   ...
#   $t->done;   # stops everything, fails on [alert]/[crit]/[emerg] or a
#               # sanitizer report in the logs
#   done_testing();
#
# Environment:
#   TEST_NGINX_BINARY    nginx binary (default /usr/sbin/nginx)
#   TEST_NGINX_MODULE    the built ngx_http_gov_module.so
#   TEST_NGINX_PRELOAD   libraries to LD_PRELOAD into nginx (ASan runtime)
#   TEST_NGINX_VALGRIND  run nginx under valgrind
#   TEST_NGINX_KEEP      keep the temporary prefix
#   TEST_NGINX_LOAD_FIRST  module .so files (space-separated) loaded before
#                          ours in every test, e.g. Debian's nchan
#   TEST_NGINX_LOAD_LAST   the same, loaded after ours
#   TEST_GOV_PROTO       "h2": requests over HTTPS and HTTP/2 (curl), nginx
#                        listening with "ssl http2" beside plain HTTP
#   TEST_GOV_PROTOS      the protocols a test's own loop covers (protocols)

use strict;
use warnings;

use Cwd qw(abs_path);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex);
use JSON::PP;
use MIME::Base64 qw(encode_base64url decode_base64url);
use POSIX qw(:sys_wait_h);
use Socket qw(SOMAXCONN SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(sleep time);

our $ROOT = abs_path(dirname(__FILE__) . '/../..');

# libfaketime, for the clocks of nginx and Redis (fake_time())
our $FAKETIME_LIB = (glob '/usr/lib/*/faketime/libfaketime.so.1')[0]
    // '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

sub new {
    my ($class, %opts) = @_;

    my $self = bless {
        prefix   => tempdir('ngx-gov-test-XXXXXX', TMPDIR => 1,
                            CLEANUP => 0),
        nginx    => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        module   => $ENV{TEST_NGINX_MODULE}
                    || "$ROOT/build/plain/objs/ngx_http_gov_module.so",
        children => [],
        redis    => {},
        %opts,
    }, $class;

    # TEST_GOV_PROTO=h2: the whole test over HTTPS and HTTP/2
    if (($ENV{TEST_GOV_PROTO} // '') eq 'h2') {
        $self->{proto} //= 'h2';
        $self->{tls} //= 1;
    }

    $self->{module} = abs_path($self->{module}) if -e $self->{module};
    make_path(map { "$self->{prefix}/$_" } qw(conf logs tmp html));
    $self->{port} = $self->free_port;

    $self->{owner} = $$;
    return $self;
}

sub prefix { $_[0]{prefix} }
sub port   { $_[0]{port} }
sub root   { $ROOT }

sub free_port {
    my ($self) = @_;

    for (1 .. 50) {
        my $port = 20000 + int(rand(30000));
        next if $self->{used_ports}{$port}++;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        return $port;
    }

    die "no free port\n";
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{prefix}/$name";
    make_path(dirname($path));
    open my $fh, '>', $path or die "$path: $!\n";
    # text from a test under "use utf8" is written as UTF-8
    utf8::encode($content) if utf8::is_utf8($content);
    print $fh $content;
    close $fh;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{prefix}/$name";
    open my $fh, '<', $path or return '';
    local $/;
    my $s = <$fh>;
    return $s;
}

# ---------------------------------------------------------------- Redis

sub start_redis {
    my ($self, %opts) = @_;

    my $name = $opts{name} || 'redis';
    my $port = $self->{redis}{$name}{port} || $self->free_port;
    my $dir = "$self->{prefix}/$name";
    make_path($dir);

    my @args = ('redis-server', '--port', $port, '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--dir', $dir,
                '--daemonize', 'no', '--logfile', "$dir/redis.log",
                '--protected-mode', 'no');
    push @args, '--requirepass', $opts{password} if defined $opts{password};
    if (my $of = $opts{replica_of}) {
        # a replica of another Redis of this test (by its name)
        push @args, '--replicaof', '127.0.0.1', $self->{redis}{$of}{port};
    }
    push @args, @{ $opts{args} || [] };

    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$dir/redis.stderr";
        if ($opts{faketime}) {
            # Redis's clock is nginx's (fake_time() first): TIME, expiry
            die "fake_time() first\n" unless $self->{faketime};
            $ENV{LD_PRELOAD} = $FAKETIME_LIB;
            $ENV{FAKETIME_TIMESTAMP_FILE} = $self->{faketime};
            $ENV{FAKETIME_NO_CACHE} = 1;
            $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
        }
        exec @args or POSIX::_exit(127);
    }

    $self->{redis}{$name} = { port => $port, pid => $pid,
                              password => $opts{password},
                              proxy => $self->{redis}{$name}{proxy},
                              opts => \%opts };

    for (1 .. 100) {
        my $r = eval { $self->redis_cmd({ name => $name }, 'PING') };
        return $port if defined $r && $r eq 'PONG';
        # loading => 1: back as soon as it answers, still loading its data
        return $port if $opts{loading} && defined $r && $r =~ /^-LOADING/;
        sleep 0.05;
    }

    die "redis-server did not start on port $port\n";
}

sub redis_port { $_[0]{redis}{ $_[1] || 'redis' }{port} }
sub redis_pid  { $_[0]{redis}{ $_[1] || 'redis' }{pid} }

sub stop_redis {
    my ($self, $name) = @_;
    $name ||= 'redis';
    my $r = $self->{redis}{$name} or return;
    return unless $r->{pid};
    kill 'KILL', $r->{pid};
    waitpid $r->{pid}, 0;
    $r->{pid} = undef;
}

sub signal_redis {
    my ($self, $sig, $name) = @_;
    kill $sig, $self->{redis}{ $name || 'redis' }{pid};
}

# start_sentinel(name => NAME, monitor => REDIS_NAME, master => 'mymaster',
#                quorum => 2, password => SENTINEL_PASSWORD): a Redis
# Sentinel (redis-server --sentinel) watching the Redis REDIS_NAME of this
# test (with that Redis's password, if it has one), with fast timeouts
# (down after 1 s, failover timeout 3 s).  Stopped like a Redis
# (stop_redis NAME).
sub start_sentinel {
    my ($self, %o) = @_;
    my $name = $o{name} || 'sentinel';
    my $port = $self->free_port;
    my $dir = "$self->{prefix}/$name";
    my $master = $o{master} || 'mymaster';
    my $mport = $self->{redis}{ $o{monitor} || 'redis' }{port};
    make_path($dir);

    $self->write_file("$dir/sentinel.conf", <<"CONF");
port $port
bind 127.0.0.1
daemonize no
protected-mode no
dir $dir
logfile $dir/sentinel.log
sentinel monitor $master 127.0.0.1 $mport @{[ $o{quorum} || 2 ]}
sentinel down-after-milliseconds $master 1000
sentinel failover-timeout $master 3000
sentinel parallel-syncs $master 1
CONF
    my $mpw = $self->{redis}{ $o{monitor} || 'redis' }{password};
    if (defined $mpw || defined $o{password}) {
        open my $fh, '>>', "$dir/sentinel.conf" or die "$dir: $!\n";
        print $fh "sentinel auth-pass $master $mpw\n" if defined $mpw;
        print $fh "requirepass $o{password}\n" if defined $o{password};
        close $fh;
    }

    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$dir/stderr";
        exec 'redis-server', "$dir/sentinel.conf", '--sentinel'
            or POSIX::_exit(127);
    }

    $self->{redis}{$name} = { port => $port, pid => $pid,
                              password => $o{password} };

    for (1 .. 100) {
        my $r = eval { $self->redis_cmd({ name => $name }, 'PING') };
        return $port if defined $r && $r eq 'PONG';
        sleep 0.05;
    }

    die "redis sentinel did not start on port $port\n";
}

# start_cluster(masters => 3, replicas => 1, node_timeout => MS,
#               proxied => 1): a Redis
# Cluster on loopback, made the way an operator makes one: redis-server
# --cluster-enabled yes per node, then redis-cli --cluster create.  Nodes
# are named c1, c2, ... (masters first); returns "HOST:PORT,..." of the
# masters, for gov_redis cluster=.  Waits until every node says
# cluster_state:ok.
sub start_cluster {
    my ($self, %o) = @_;
    my $masters = $o{masters} || 3;
    my $replicas = $o{replicas} // 1;
    my $timeout = $o{node_timeout} || 1000;
    my @names;

    for my $i (1 .. $masters * (1 + $replicas)) {
        my $name = "c$i";
        my $dir = "$self->{prefix}/$name";
        # the cluster bus listens on the port + 10000: both must be free
        for (1 .. 50) {
            my $p = $self->free_port;
            my $bus = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                            LocalPort => $p + 10000,
                                            Proto => 'tcp', Listen => 1,
                                            ReuseAddr => 1) or next;
            close $bus;
            $self->{used_ports}{ $p + 10000 }++;
            $self->{redis}{$name}{port} = $p;
            last;
        }
        # proxied => 1: each node announces a fault proxy in front of it
        # (fault_proxy), so that clients reach it only through the proxy
        my @announce;
        if ($o{proxied}) {
            my $pp = $self->fault_proxy(to => $self->{redis}{$name}{port});
            $self->{redis}{$name}{proxy} = $pp;
            @announce = ('--cluster-announce-port', $pp,
                         '--cluster-announce-bus-port',
                         $self->{redis}{$name}{port} + 10000);
        }
        $self->start_redis(name => $name, args => [
            @announce,
            '--cluster-enabled', 'yes',
            '--cluster-config-file', "$dir/nodes.conf",
            '--cluster-node-timeout', $timeout,
            # a test kills masters: slots of a dead shard stay down
            '--cluster-require-full-coverage', 'yes',
            @{ $o{args} || [] } ]);
        push @names, $name;
    }

    my @addrs = map { '127.0.0.1:' . $self->redis_port($_) } @names;
    my $log = "$self->{prefix}/cluster-create.log";
    system("redis-cli --cluster create @addrs --cluster-replicas $replicas"
           . " --cluster-yes > $log 2>&1") == 0
        or die "redis-cli --cluster create failed, see $log\n";

    $self->{cluster} = [ @names ];
    $self->wait_cluster or die "the cluster did not come up\n";

    # the addresses clients are given: the proxies', when proxied
    return join ',', map { '127.0.0.1:' . ($self->{redis}{$_}{proxy}
                                           // $self->redis_port($_)) }
                     @names[0 .. $masters - 1];
}

# every live node of the cluster says cluster_state:ok and agrees on the
# masters (within SECONDS, default 20)
sub wait_cluster {
    my ($self, $seconds) = @_;
    my $until = time + ($seconds || 20);
    while (time < $until) {
        my $ok = 1;
        for my $n (@{ $self->{cluster} }) {
            next unless $self->{redis}{$n}{pid};
            my $info = eval { $self->redis_cmd({ name => $n }, 'CLUSTER',
                                               'INFO') } // '';
            $ok = 0 unless $info =~ /cluster_state:ok/;
        }
        return 1 if $ok;
        sleep 0.2;
    }
    return 0;
}

# the node (its name) that holds KEY's slot now, as the cluster says
sub cluster_owner {
    my ($self, $key) = @_;
    my ($first) = grep { $self->{redis}{$_}{pid} } @{ $self->{cluster} };
    my $slot = $self->redis_cmd({ name => $first }, 'CLUSTER', 'KEYSLOT',
                                $key);
    my $shards = $self->redis_cmd({ name => $first }, 'CLUSTER', 'SLOTS');
    for my $r (@$shards) {
        next unless $slot >= $r->[0] && $slot <= $r->[1];
        my $port = $r->[2][1];
        for my $n (@{ $self->{cluster} }) {
            return $n if $self->{redis}{$n}{port} == $port
                         || ($self->{redis}{$n}{proxy} // 0) == $port;
        }
    }
    return undef;
}

# a command about KEY, sent to the master that holds it
sub cluster_cmd {
    my ($self, $key, @args) = @_;
    my $node = $self->cluster_owner($key) or die "no owner of $key\n";
    return $self->redis_cmd({ name => $node }, @args);
}

# the live masters' names, as the cluster says
sub cluster_masters {
    my ($self) = @_;
    my ($first) = grep { $self->{redis}{$_}{pid} } @{ $self->{cluster} };
    my $slots = $self->redis_cmd({ name => $first }, 'CLUSTER', 'SLOTS');
    my %m;
    for my $r (@$slots) {
        for my $n (@{ $self->{cluster} }) {
            $m{$n} = 1 if $self->{redis}{$n}{port} == $r->[2][1]
                         || ($self->{redis}{$n}{proxy} // 0) == $r->[2][1];
        }
    }
    return sort keys %m;
}

# the number of replicas in sync with the Redis NAME (INFO replication)
sub redis_replicas {
    my ($self, $name) = @_;
    my $info = eval { $self->redis_cmd({ name => $name }, 'INFO',
                                       'replication') } // '';
    my $n = () = $info =~ /^slave\d+:.*state=online/mg;
    return $n;
}

# a tiny RESP client: redis_cmd([{name=>..}], ARGS...) returns the reply
# (arrays as array refs, errors as "ERR ..." strings with a leading '-')

sub redis_cmd {
    my $self = shift;
    my $o = ref $_[0] eq 'HASH' ? shift : {};
    my $r = $self->{redis}{ $o->{name} || 'redis' };

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $r->{port}, Proto => 'tcp',
                                  Timeout => 2)
        or die "redis connect: $!\n";

    my $req = '';
    if (defined $r->{password} && !$o->{noauth}) {
        $req .= _resp('AUTH', $r->{password});
    }
    $req .= _resp(@_);
    print $s $req;

    _read_reply($s) if defined $r->{password} && !$o->{noauth};
    my $reply = _read_reply($s);
    close $s;
    return $reply;
}

sub _resp {
    my $s = '*' . scalar(@_) . "\r\n";
    $s .= '$' . length($_) . "\r\n$_\r\n" for @_;
    return $s;
}

sub _read_reply {
    my ($s) = @_;
    my $line = <$s>;
    die "redis: no reply\n" unless defined $line;
    $line =~ s/\r\n$//;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+' || $t eq ':';
    return "-$v" if $t eq '-';
    if ($t eq '$') {
        return undef if $v < 0;
        my $buf = '';
        read($s, $buf, $v + 2) == $v + 2 or die "redis: short read\n";
        return substr($buf, 0, $v);
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [ map { _read_reply($s) } 1 .. $v ];
    }
    die "redis: bad reply '$line'\n";
}

# counts the clients connected to Redis, leaving out the asking one
sub redis_clients {
    my ($self, $name) = @_;
    my $list = $self->redis_cmd({ name => $name }, 'CLIENT', 'LIST');
    my @lines = grep { !/cmd=client/ } split /\n/, $list;
    return scalar @lines;
}

# ------------------------------------------------------- mock servers

# A forked HTTP server.  The handler gets { method, uri, path, query,
# headers => {lc name => value}, body } and returns
# { status, headers => {..}, body, delay (seconds), close (no answer),
# reset => BYTES (those bytes of an answer, then a TCP reset) }.
# Every request is appended, as one JSON line, to logs/backend-NAME.log.

sub backend {
    my ($self, $handler, %opts) = @_;

    my $name = $opts{name} || 'backend' . (++$self->{nbackends});
    my $port = $opts{port} || $self->free_port;
    my $log = "$self->{prefix}/logs/backend-$name.log";

    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $port, Proto => 'tcp',
                                       Listen => SOMAXCONN, ReuseAddr => 1)
        or die "backend listen on $port: $!\n";

    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        $SIG{CHLD} = 'IGNORE';
        $SIG{TERM} = sub { POSIX::_exit(0) };
        while (1) {
            my $c = $listen->accept or next;
            my $child = fork;
            if (defined $child && $child == 0) {
                close $listen;
                _serve($c, $handler, $log);
                POSIX::_exit(0);
            }
            close $c;
        }
    }

    close $listen;
    push @{ $self->{children} }, $pid;
    $self->{backends}{$name} = { port => $port, pid => $pid, log => $log };
    return $port;
}

# The demo archive (conf/demo/archive.pl) as the backend "archive": its
# files in PREFIX/archive, its fault in PREFIX/archive.mode ("down",
# "slow"); archived() reads what it holds
sub archive_service {
    my ($self) = @_;
    my $port = $self->free_port;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$self->{prefix}/logs/archive.stderr";
        exec 'perl', "$ROOT/conf/demo/archive.pl", '--port', $port,
             '--dir', "$self->{prefix}/archive",
             '--mode-file', "$self->{prefix}/archive.mode"
            or POSIX::_exit(127);
    }
    push @{ $self->{children} }, $pid;
    $self->{backends}{archive} = { port => $port, pid => $pid };
    for (1 .. 100) {
        return $port if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $port);
        sleep 0.05;
    }
    die "archive.pl did not start on port $port\n";
}

# The http and server lines of retention with the demo archive (after
# archive_service): gov_events, gov_notify_claim_idle 2s, "gov_retention
# RETENTION sweep=1s", the archive as gov_archive_notify and gov_archive;
# read_timeout => T bounds the archive's answers
sub retention_conf {
    my ($self, $retention, %o) = @_;
    my $limit = $o{read_timeout}
                ? "\n        proxy_read_timeout $o{read_timeout};" : '';
    my $http = "    gov_events;\n"
             . "    gov_notify_claim_idle 2s;\n"
             . "    gov_retention $retention sweep=1s;\n"
             . "    gov_archive_notify /internal/archive_in;\n"
             . "    gov_archive /internal/archive;\n";
    my $server = "    location = /internal/archive_in { internal;\n"
               . "        proxy_pass http://127.0.0.1:%%BACKEND:archive%%/;"
               . "$limit }\n"
               . "    location /internal/archive/ { internal;\n"
               . "        proxy_pass http://127.0.0.1:%%BACKEND:archive%%/;"
               . "$limit }\n";
    return ($http, $server);
}

# what the archive holds: { ID => document }, and each delivery's id
sub archived {
    my ($self) = @_;
    my %docs;
    for my $f (glob "$self->{prefix}/archive/*.json") {
        my ($id) = $f =~ m{/(\w+)\.json$};
        $docs{$id} = decode_json($self->read_file("archive/$id.json"));
    }
    my @deliveries = map { (split / /)[0] }
                     split /\n/, ($self->read_file('archive/deliveries.log')
                                  // '');
    return (\%docs, \@deliveries);
}

# the mock "echo": answers with the request headers it received, as JSON
sub echo_backend {
    my ($self) = @_;
    return $self->backend(sub {
        my ($req) = @_;
        return { status => 200, body => encode_json($req->{headers}) };
    }, name => 'echo');
}

sub stop_backend {
    my ($self, $name) = @_;
    my $b = $self->{backends}{$name} or return;
    kill 'TERM', $b->{pid};
    waitpid $b->{pid}, 0;
    @{ $self->{children} } = grep { $_ != $b->{pid} } @{ $self->{children} };
}

# requests a backend received, oldest first
sub backend_requests {
    my ($self, $name) = @_;
    my $log = $self->{backends}{$name}{log};
    open my $fh, '<', $log or return ();
    return map { decode_json($_) } <$fh>;
}

# A fake Redis: accepts connections and never answers (a hung Redis), or
# with reply => BYTES answers every read with those bytes (a broken one).
sub fake_redis {
    my ($self, %o) = @_;
    my $port = $self->free_port;

    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $port, Proto => 'tcp',
                                       Listen => SOMAXCONN, ReuseAddr => 1)
        or die "fake redis listen: $!\n";

    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        $SIG{CHLD} = 'IGNORE';
        my @keep;
        while (1) {
            my $c = $listen->accept or next;
            if (!defined $o{reply}) {
                push @keep, $c;
                next;
            }
            my $child = fork;
            if (defined $child && $child == 0) {
                while (sysread($c, my $buf, 65536)) {
                    syswrite $c, $o{reply};
                }
                POSIX::_exit(0);
            }
            close $c;
        }
    }

    close $listen;
    push @{ $self->{children} }, $pid;
    return $port;
}

# fault_proxy(to => PORT, port => PORT): a TCP proxy on loopback to the
# port TO (a Redis), for faults no real Redis makes: the file
# "proxy.PORT" in the prefix holds its mode, read at each read: "ok" (or
# no file) relays; "bad" answers what is asked with an HTTP page, not
# RESP; "cut" relays the question and then half of the answer, and
# closes; "silent" relays nothing either way.  stop_proxy(PORT) closes its
# port (connections refused); fault_proxy(port => PORT) opens it again.
sub fault_proxy {
    my ($self, %o) = @_;
    my $port = $o{port} // $self->free_port;
    my $to = $o{to} // $self->{proxies}{$port}{to};
    my $mode_file = "$self->{prefix}/proxy.$port";

    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $port, Proto => 'tcp',
                                       Listen => SOMAXCONN, ReuseAddr => 1)
        or die "fault proxy listen on $port: $!\n";

    my $mode = sub {
        open my $fh, '<', $mode_file or return 'ok';
        my $m = <$fh> // 'ok';
        chomp $m;
        return $m;
    };

    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        $SIG{TERM} = sub { kill 'TERM', -$$; POSIX::_exit(0) };
        $SIG{CHLD} = 'IGNORE';
        setpgrp(0, 0);
        while (1) {
            my $c = $listen->accept or next;
            my $child = fork;
            if (defined $child && $child == 0) {
                $SIG{TERM} = 'DEFAULT';
                close $listen;
                my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $to,
                                              Proto => 'tcp')
                    or POSIX::_exit(0);
                my $sel = IO::Select->new($c, $u);
                my $asked = 0;
                while (1) {
                    for my $h ($sel->can_read) {
                        my $n = sysread($h, my $buf, 65536);
                        POSIX::_exit(0) unless $n;
                        my $m = $mode->();
                        next if $m eq 'silent';
                        if ($h == $c) {
                            if ($m eq 'bad') {
                                syswrite $c, "HTTP/1.1 200 OK\r\n"
                                    . "Content-Type: text/html\r\n\r\n"
                                    . "<html>maintenance</html>\r\n";
                                next;
                            }
                            $asked = 1 if $m eq 'cut';
                            syswrite $u, $buf;
                        } elsif ($asked && $m eq 'cut') {
                            syswrite $c, substr($buf, 0,
                                                int(length($buf) / 2) || 1)
                                if length($buf) > 1;
                            POSIX::_exit(0);
                        } else {
                            syswrite $c, $buf;
                        }
                    }
                }
            }
            close $c;
        }
    }

    close $listen;
    $self->{proxies}{$port} = { pid => $pid, to => $to };
    push @{ $self->{children} }, $pid;
    return $port;
}

sub stop_proxy {
    my ($self, $port) = @_;
    my $p = $self->{proxies}{$port} or return;
    return unless $p->{pid};
    kill 'TERM', $p->{pid};
    waitpid $p->{pid}, 0;
    $p->{pid} = undef;
}

sub _serve {
    my ($c, $handler, $log) = @_;

    $c->autoflush(1);
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
    if (my $len = $h{'content-length'}) {
        read($c, $body, $len);
    }

    my ($path, $query) = split /\?/, $uri, 2;
    my $req = { method => $method, uri => $uri, path => $path,
                query => $query // '', headers => \%h, body => $body,
                time => time };

    if (open my $fh, '>>', $log) {
        flock $fh, LOCK_EX;
        print $fh encode_json($req), "\n";
        close $fh;
    }

    my $res = $handler->($req) || {};

    sleep $res->{delay} if $res->{delay};
    return if $res->{close};

    if (defined $res->{reset}) {
        # these bytes of an answer, then a reset (RST), not a clean close
        print $c $res->{reset};
        setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $c;
        return;
    }

    my $status = $res->{status} || 200;
    my $rbody = $res->{body} // '';
    my $hdrs = $res->{headers} || {};
    $hdrs->{'Content-Type'} ||= 'application/json';

    my $out = "HTTP/1.1 $status X\r\n";
    $out .= "$_: $hdrs->{$_}\r\n" for sort keys %$hdrs;
    $out .= "Content-Length: " . length($rbody) . "\r\n";
    $out .= "Connection: close\r\n\r\n$rbody";
    print $c $out;
    close $c;
}

# ------------------------------------------------------------- nginx

# write_conf(http => TEXT, server => TEXT, main => TEXT, workers => N,
#            load_first => [SO...], load_last => [SO...])
# %%PORT%%, %%PREFIX%%, %%REDIS_PORT%% and %%ROOT%% are replaced.

sub load_modules {
    my ($self, %o) = @_;

    # a test's own list wins over the environment's for the same module
    my %own = map { $_ => 1 } @{ $o{load_first} || [] },
                              @{ $o{load_last} || [] };
    my @first = ((grep { !$own{$_} } split ' ',
                  $ENV{TEST_NGINX_LOAD_FIRST} // ''),
                 @{ $o{load_first} || [] });
    my @last = (@{ $o{load_last} || [] },
                grep { !$own{$_} } split ' ',
                $ENV{TEST_NGINX_LOAD_LAST} // '');

    return join '', map { "load_module $_;\n" }
        @first, $self->{module}, @last;
}

sub write_conf {
    my ($self, %o) = @_;

    my $user = $> == 0 ? "user root root;\n" : '';
    my $workers = $o{workers} // 2;
    my $p = $self->{prefix};
    my $load = $self->load_modules(%o);
    # HTTPS with HTTP/2 beside plain HTTP, as portals serve browsers
    my $tls = '';
    if ($o{tls} // $self->{tls}) {
        my ($crt, $key) = $self->tls_cert;
        $self->{tls_port} //= $self->free_port;
        $tls = "        listen 127.0.0.1:$self->{tls_port} ssl http2;\n"
             . "        ssl_certificate $crt;\n"
             . "        ssl_certificate_key $key;\n";
    }
    # nginx keeps only the environment it is told to for its workers
    my $env = $self->{faketime}
        ? "env FAKETIME_TIMESTAMP_FILE;\nenv FAKETIME_NO_CACHE;\n"
          . "env FAKETIME_DONT_FAKE_MONOTONIC;\nenv TZ;\n"
        : '';

    my $conf = <<"CONF";
${load}${user}worker_processes $workers;
worker_shutdown_timeout 5s;
daemon on;
master_process on;
pid $p/logs/nginx.pid;
error_log $p/logs/error.log info;
${env}@{[ $o{main} // '' ]}

events {
    worker_connections 1024;
}

http {
    access_log $p/logs/access.log;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;

@{[ $o{http} // '' ]}

    server {
        listen 127.0.0.1:%%PORT%%;
${tls}        server_name localhost;

@{[ $o{server} // '' ]}
    }
}
CONF

    $conf = $self->expand($conf);
    $self->write_file('conf/nginx.conf', $conf);
    return $conf;
}

sub expand {
    my ($self, $s) = @_;
    $s =~ s/%%PORT%%/$self->{port}/g;
    $s =~ s/%%PREFIX%%/$self->{prefix}/g;
    $s =~ s/%%ROOT%%/$ROOT/g;
    # a Redis not (yet) started: port 1, nothing listens there
    $s =~ s/%%REDIS_PORT(?::(\w+))?%%/$self->{redis}{$1 || 'redis'}{port} \/\/ 1/ge;
    $s =~ s/%%BACKEND:(\w+)%%/$self->{backends}{$1}{port}/g;
    return $s;
}



sub _nginx_cmd {
    my ($self, @args) = @_;

    my @cmd = ($self->{nginx}, '-p', "$self->{prefix}/",
               '-c', "$self->{prefix}/conf/nginx.conf",
               '-e', "$self->{prefix}/logs/error.log", @args);

    if ($ENV{TEST_NGINX_VALGRIND}) {
        unshift @cmd, 'valgrind', '-q', '--trace-children=yes',
            '--num-callers=30', '--error-exitcode=0',
            "--log-file=$self->{prefix}/logs/valgrind.%p.log",
            '--leak-check=full', '--errors-for-leak-kinds=definite',
            '--show-leak-kinds=definite',
            "--suppressions=$ROOT/t/valgrind.supp";
    }

    return @cmd;
}

sub _env {
    my ($self) = @_;
    my %env;
    my @preload;
    if ($ENV{TEST_NGINX_PRELOAD}) {
        push @preload, split ' ', $ENV{TEST_NGINX_PRELOAD};
        $env{ASAN_OPTIONS} = "log_path=$self->{prefix}/logs/asan"
            . ':detect_leaks=0:abort_on_error=0:detect_odr_violation=0';
        $env{UBSAN_OPTIONS} = "log_path=$self->{prefix}/logs/ubsan"
            . ':print_stacktrace=1';
    }
    if ($self->{faketime}) {
        # libfaketime (Debian's): nginx's clock moved by the offset in the
        # file, read again on every call; timers keep the real clock.  It
        # comes first: behind ASan's runtime, their first clock call
        # deadlocks (ASan is told not to mind the order)
        unshift @preload, $FAKETIME_LIB;
        $env{ASAN_OPTIONS} .= ':verify_asan_link_order=0'
            if $env{ASAN_OPTIONS};
        $env{FAKETIME_TIMESTAMP_FILE} = $self->{faketime};
        $env{FAKETIME_NO_CACHE} = 1;
        $env{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
        $env{TZ} = 'UTC';
    }
    $env{LD_PRELOAD} = join ' ', @preload if @preload;
    return %env;
}

# nginx's wall clock set to "epoch" from now on (libfaketime; call it
# before start_nginx the first time); returns the offset in seconds
sub fake_time {
    my ($self, $epoch) = @_;
    die "libfaketime is not installed ($FAKETIME_LIB)\n" unless -e $FAKETIME_LIB;
    $self->{faketime} //= "$self->{prefix}/faketime";
    $self->{time_offset} = int($epoch - time);
    $self->write_file('faketime', sprintf("%+ds\n", $self->{time_offset}));
    return $self->{time_offset};
}

# nginx's idea of now
sub now { int(time) + ($_[0]{time_offset} // 0) }

# runs nginx with arguments, returns (exit status, output)
sub run_nginx {
    my ($self, @args) = @_;
    my %env = $self->_env;
    local @ENV{ keys %env } = values %env;

    my $out = "$self->{prefix}/logs/nginx.out";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec $self->_nginx_cmd(@args) or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $status = $? >> 8;
    return ($status, $self->read_file($out));
}

# nginx -t on the current configuration
sub test_conf {
    my ($self) = @_;
    return $self->run_nginx('-t');
}

sub start_nginx {
    my ($self) = @_;

    my ($status, $out) = $self->run_nginx();
    die "nginx did not start ($status): $out\n" if $status;

    $self->{nginx_running} = 1;

    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port},
                                      Proto => 'tcp');
        if ($s) {
            close $s;
            $self->wait_workers;
            return 1;
        }
        sleep 0.05;
    }

    die "nginx does not listen on $self->{port}\n";
}

sub master_pid {
    my ($self) = @_;
    my $pid = $self->read_file('logs/nginx.pid');
    chomp $pid;
    return $pid;
}

# the CPU time (clock ticks, user and system) the workers have used
sub cpu_ticks {
    my ($self) = @_;
    my $n = 0;
    for my $pid ($self->worker_pids) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my @f = split ' ', (<$fh> =~ /\)\s(.*)/)[0];
        $n += $f[11] + $f[12];
    }
    return $n;
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->master_pid or return ();
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $l = <$fh>;
        next unless $l;
        my @f = split / /, ($l =~ /\)\s(.*)/)[0];
        push @pids, ($stat =~ m{/proc/(\d+)/})[0] if $f[1] == $master;
    }
    return sort { $a <=> $b } @pids;
}

# waits until every worker reports in gov_status (if configured) or a bit
sub wait_workers {
    my ($self) = @_;
    sleep 0.2;
}

sub reload {
    my ($self) = @_;
    my $master = $self->master_pid;
    my @old = $self->worker_pids;
    kill 'HUP', $master;
    for (1 .. 200) {
        my %now = map { $_ => 1 } $self->worker_pids;
        my $new = grep { !$now{$_} } @old;
        last if $new == @old && %now;
        sleep 0.05;
    }
    sleep 0.2;
}

sub stop_nginx {
    my ($self) = @_;
    return unless $self->{nginx_running};
    my $master = $self->master_pid;
    $self->{nginx_running} = 0;
    return unless $master;
    # the workers, known while they are the master's: a master killed
    # leaves them to init, still listening
    my @workers = $self->worker_pids;
    kill 'QUIT', $master;
    for (1 .. 300) {
        return 1 unless kill 0, $master;
        sleep 0.05;
    }
    kill 'KILL', $master, @workers;
    for (1 .. 100) {
        last unless grep { kill 0, $_ } $master, @workers;
        sleep 0.05;
    }
    return 0;
}

# ------------------------------------------------------------- the world

# The newborn bundle of the usual world, as text for nginx.conf: the photo
# material and the name field, the items (items => [...], nhc alone by
# default: 出生医学证明 with the photo and the name, 3 days; cdc: 预防接种证
# and hukou: 户口登记, with the name, 5 days), each at the "dept" mock (at => { ITEM => NAME }
# for another), then gov_bundle newborn of them (10 days).  material =>
# replaces the photo (nhc asks for it), head => and more => add lines
# before the items and after them, no_bundle => 1 leaves the bundle out.
sub newborn {
    my (%o) = @_;
    my @items = @{ $o{items} || ['nhc'] };
    my $material = $o{material} // 'photo "照片"';
    my ($mid) = $material =~ /^(\w+)/;
    my %at = (nhc => 'dept', cdc => 'dept', hukou => 'dept',
              %{ $o{at} || {} });
    my %item = (
        nhc => qq(name "出生医学证明"; department "卫生健康委";\n)
             . qq(                   materials $mid; fields name; time_limit 3;),
        cdc => qq(name "预防接种证"; department "疾控中心";\n)
             . qq(                   fields name; time_limit 5;),
        hukou => qq(name "户口登记"; department "公安局";\n)
               . qq(                   fields name; time_limit 5;),
    );
    my $text = "    gov_material $material;\n    gov_field name \"姓名\";\n";
    utf8::decode($_) for $text, values %item;
    $text .= _chars($o{head});
    for my $i (@items) {
        $text .= "    gov_item $i { $item{$i}\n"
               . "                   backend /internal/$at{$i};\n"
               . "                   callback_secret_file dept.secret; }\n";
    }
    $text .= _chars($o{more});
    $text .= _chars("    gov_bundle newborn { name \"新生儿出生一件事\"; code NB;\n"
                    . "                         items @items; time_limit 10; }\n")
        unless $o{no_bundle};
    return $text;
}

# text in characters, whether a test under "use utf8" gave characters or
# one without it gave UTF-8 bytes
sub _chars {
    my ($s) = @_;
    return '' unless defined $s;
    $s = "$s";
    utf8::decode($s) unless utf8::is_utf8($s);
    return $s;
}

# The usual world of a test, in one call: a Redis (redis => 0: none), an
# HS256 key and its JWKS (keys/keys.jwks, kid h1; citizen() mints), the
# departments' secret (conf/dept.secret, secret()), the mock department
# "dept" answering {"receipt":"R-1"} (dept => sub { ... } answers
# otherwise), and nginx started with the newborn bundle (newborn();
# bundles => replaces it), gov_redis and gov_jwt_key_file (redis_line =>
# replaces the first), the bundles, progress and callback locations and
# /internal/dept.  The test adds its own lines (http =>, server =>), its
# own departments (backends => { NAME => sub }, at /internal/NAME), and
# workers => N, tls => 1; start => 0 leaves nginx to the test.  Called on
# a GovTest already made, it sets the world up there (mock departments that
# read files of the test's prefix are forked knowing it).
sub world {
    my ($class, %o) = @_;
    # GovTest->world(...), or $t->world(...) once the test knows its prefix
    my $t = ref $class ? $class : $class->new($o{tls} ? (tls => 1) : ());
    $t->{world} = \%o;
    $t->start_redis unless defined $o{redis} && !$o{redis};
    $t->gen_keys;
    $t->write_jwks('keys.jwks', [ 'hs', 'HS256', 'h1' ]);
    $t->{secret} = $o{secret} // 'department-secret-0123456789';
    $t->write_file('conf/dept.secret', "$t->{secret}\n");
    $t->backend($o{dept} // sub {
        return { status => 200, body => '{"receipt":"R-1"}' };
    }, name => 'dept');
    for my $name (sort keys %{ $o{backends} || {} }) {
        $t->backend($o{backends}{$name}, name => $name);
    }
    $t->write_world;
    $t->start_nginx unless defined $o{start} && !$o{start};
    return $t;
}

# the world's configuration written again, some of its options changed
# (for a reload or a second start)
sub write_world {
    my ($self, %more) = @_;
    my %o = (%{ $self->{world} || {} }, %more);
    $o{$_} = _chars($o{$_}) for grep { defined $o{$_} }
                                qw(http server bundles redis_line);
    my $bundles = newborn();
    my $http = ($o{redis_line}
                // "    gov_redis 127.0.0.1:%%REDIS_PORT%% timeout=2s;\n")
             . "    gov_jwt_key_file %%PREFIX%%/keys/keys.jwks;\n"
             . ($o{http} // '') . ($o{bundles} // $bundles);
    my $server = "    location /bundles/ { gov_bundles; }\n"
               . "    location /progress/ { gov_progress; }\n"
               . "    location /callback/ { gov_callback; }\n";
    for my $name ('dept', sort keys %{ $o{backends} || {} }) {
        $server .= "    location /internal/$name { internal;\n"
                 . "        proxy_pass http://127.0.0.1:%%BACKEND:$name%%/s; }\n";
    }
    return $self->write_conf(http => $http,
                             server => $server . ($o{server} // ''),
                             map { exists $o{$_} ? ($_ => $o{$_}) : () }
                             qw(workers tls main));
}

# Another node of this world, as a second machine would be: its own prefix
# and port, this world's Redis servers and mock departments, a copy of its
# keys and secret; options change the world's (start => 0 as in world())
sub node {
    my ($self, %o) = @_;
    my $n = GovTest->new($self->{tls} ? (tls => 1) : ());
    $n->{redis}{$_} = { port => $self->{redis}{$_}{port} }
        for keys %{ $self->{redis} };
    $n->{backends} = $self->{backends};
    $n->{$_} = $self->{$_} for qw(secret hs_secret);
    $n->{world} = { %{ $self->{world} || {} }, %o };
    for my $f ('conf/dept.secret',
               map { s{^\Q$self->{prefix}\E/}{}r } glob "$self->{prefix}/keys/*")
    {
        $n->write_file($f, $self->read_file($f));
    }
    $n->write_world;
    $n->start_nginx unless defined $o{start} && !$o{start};
    return $n;
}

sub secret { $_[0]{secret} }

# a citizen's bearer token (HS256, kid h1), Zhang San's unless told
sub citizen {
    my ($self, $sub, %claims) = @_;
    return $self->token(key => 'hs', alg => 'HS256', kid => 'h1',
                        sub => $sub // '110101199001011234', %claims);
}

# POST /bundles/BUNDLE/applications (newborn unless bundle =>) as JSON
sub apply {
    my ($self, $doc, %o) = @_;
    return $self->post('/bundles/' . ($o{bundle} // 'newborn')
                       . '/applications',
                       body => ref $doc ? encode_json($doc) : $doc,
                       headers => { 'Content-Type' => 'application/json',
                                    %{ $o{headers} || {} } });
}

# A department's callback, signed v2 with the world's secret (secret =>,
# ts =>, sig => to sign otherwise)
sub callback {
    my ($self, $id, $item, $doc, %o) = @_;
    my $path = "/callback/$id/$item";
    my $body = ref $doc ? encode_json($doc) : $doc;
    my $ts = int($o{ts} // time);
    return $self->post($path, body => $body,
                       $o{timeout} ? (timeout => $o{timeout}) : (),
                       headers => {
        'Content-Type' => 'application/json', 'X-Gov-Timestamp' => $ts,
        'X-Gov-Signature' => $o{sig}
            // sig_v2($o{secret} // $self->{secret}, $ts, 'POST', $path,
                      $body) });
}

# --------------------------------------------------------------- HTTP

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}$path";
}

# the portal's own origin as the current protocol reaches it
sub origin {
    my ($self) = @_;
    return $self->proto eq 'h2' ? "https://127.0.0.1:$self->{tls_port}"
                                : "http://127.0.0.1:$self->{port}";
}

# A self-signed certificate for 127.0.0.1 and localhost, made once a test
sub tls_cert {
    my ($self) = @_;
    my ($crt, $key) = map { "$self->{prefix}/conf/tls.$_" } qw(crt key);
    return ($crt, $key) if -s $crt;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDERR, '>', "$self->{prefix}/logs/openssl.log";
        exec 'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
             '-subj', '/CN=localhost', '-addext',
             'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', $key,
             '-out', $crt or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    die "openssl req failed\n" if $?;
    return ($crt, $key);
}

# The protocols a test's requests loop over: 'http/1.1' (HTTP::Tiny) and
# 'h2' (curl --http2 over TLS, nginx started with tls => 1).
# TEST_GOV_PROTOS="h2" narrows every loop to one.
sub protocols {
    return split ' ', ($ENV{TEST_GOV_PROTOS} || 'http/1.1 h2');
}

# what http() speaks from now on: 'http/1.1' or 'h2'
sub proto {
    my ($self, $proto) = @_;
    $self->{proto} = $proto if defined $proto;
    return $self->{proto} // 'http/1.1';
}

sub http {
    my ($self, $method, $path, %o) = @_;
    my $res;
    if ($self->proto eq 'h2' || $o{chunked} || $o{abort_after}) {
        $res = $self->curl($method, $path, %o);
    } else {
        my $ua = HTTP::Tiny->new(timeout => $o{timeout} || 10,
                                 max_redirect => 0);
        $res = $ua->request($method, $self->url($path),
                            { headers => $o{headers} || {},
                              defined $o{body} ? (content => $o{body})
                                               : () });
    }
    if (($res->{headers}{'content-type'} // '') =~ m{json}
        && length $res->{content})
    {
        $res->{json} = eval { decode_json($res->{content}) };
    }
    if (my $log = $ENV{GOV_OPENAPI_LOG}) {
        # every answer, for t/openapi/validate.mjs (docs/openapi.yaml)
        my $body = $res->{status} == 599 ? '' : $res->{content} // '';
        utf8::decode($body);
        if (open my $fh, '>>', $log) {
            print $fh JSON::PP->new->utf8->canonical->encode({
                method => $method, path => $path, status => $res->{status},
                type => $res->{headers}{'content-type'} // '',
                body => $body }), "\n";
        }
    }
    return $res;
}

# curl's arguments for one request; the answer goes to files named $out
sub _curl_args {
    my ($self, $method, $path, $out, %o) = @_;
    my $h2 = $self->proto eq 'h2';
    my $url = $h2 ? "https://127.0.0.1:$self->{tls_port}$path"
                  : $self->url($path);
    my %h = %{ $o{headers} || {} };
    my @a = ($url, '-sS', '-k', $h2 ? '--http2' : '--http1.1',
             '--max-time', $o{timeout} || 10, '-D', "$out.head",
             '-o', "$out.body", '-w', "%{http_code} %{num_connects} $out\n",
             # as HTTP::Tiny: no Accept, Content-Type or Expect unless given
             '-H', 'Accept:', '-H', 'Expect:');
    push @a, '-H', 'Content-Type:' unless grep { lc eq 'content-type' } keys %h;
    push @a, '-H', "$_: $h{$_}" for sort keys %h;
    if ($method eq 'HEAD') {
        push @a, '--head';
    } else {
        push @a, '-X', $method;
    }
    if (defined $o{body}) {
        my $body = $o{body};
        utf8::encode($body) if utf8::is_utf8($body);
        $self->write_file("$out.in", $body);
        if ($o{chunked}) {
            # no length declared: chunked over HTTP/1.1, bare DATA over h2
            push @a, '-T', '-', '-H', 'Content-Length:';
            push @a, '-H', 'Transfer-Encoding: chunked' unless $h2;
        } else {
            push @a, '--data-binary', "\@$out.in";
        }
        # a client that stops mid-body: sends slowly and gives up
        push @a, '--limit-rate', $o{rate} || '100k' if $o{abort_after};
    }
    return @a;
}

# one answer from the files curl left
sub _curl_answer {
    my ($self, $out, $line) = @_;
    my ($code, $conns) = split ' ', $line // '';
    my $res = { status => $code || 599, content => $self->read_file("$out.body"),
                headers => {}, connects => $conns // 0 };
    # the last block of headers (an interim 100 comes before)
    my @blocks = split /\r?\n\r?\n/, $self->read_file("$out.head");
    my @lines = split /\r?\n/, $blocks[-1] // '';
    my $status = shift @lines // '';
    $res->{protocol} = ($status =~ m{^(HTTP/\S+)})[0] // '';
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        if (exists $res->{headers}{$k}) {
            my $old = $res->{headers}{$k};
            $res->{headers}{$k} = [ ref $old ? @$old : $old, $v ];
        } else {
            $res->{headers}{$k} = $v;
        }
    }
    $res->{success} = $res->{status} =~ /^2/ ? 1 : 0;
    $res->{json} = eval { decode_json($res->{content}) }
        if ($res->{headers}{'content-type'} // '') =~ /json/
           && length $res->{content};
    unlink map { "$out.$_" } qw(head body in);
    return $res;
}

# A request through curl (HTTP/2 when proto is 'h2'), answered as
# HTTP::Tiny answers.  chunked => 1 sends the body with no length;
# abort_after => SECONDS gives up sending it after that long.
sub curl {
    my ($self, $method, $path, %o) = @_;
    my $out = "$self->{prefix}/tmp/curl.$$." . ++$self->{curl_n};
    my @a = $self->_curl_args($method, $path, $out, %o);
    if ($o{abort_after}) {
        my $i = 0;
        $i++ until $a[$i] eq '--max-time';
        $a[$i + 1] = $o{abort_after};
    }
    my $pid = open(my $ph, '-|') // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', "$out.in" if $o{chunked};
        open STDERR, '>', '/dev/null';
        exec 'curl', @a or POSIX::_exit(127);
    }
    my $line = <$ph>;
    close $ph;
    return $self->_curl_answer($out, $line);
}

# Several requests at once on one HTTP/2 connection (curl --parallel,
# multiplexed): each [METHOD, PATH, %options]; the answers in order, each
# with "connects", the connections curl opened for it.
sub parallel_h2 {
    my ($self, @reqs) = @_;
    local $self->{proto} = 'h2';
    my (@a, @outs);
    for my $r (@reqs) {
        my ($method, $path, %o) = @$r;
        my $out = "$self->{prefix}/tmp/curl.$$." . ++$self->{curl_n};
        push @outs, $out;
        push @a, '--next' if @a;
        push @a, $self->_curl_args($method, $path, $out, %o);
    }
    my $pid = open(my $ph, '-|') // die "fork: $!\n";
    if ($pid == 0) {
        open STDERR, '>', '/dev/null';
        exec 'curl', '--parallel', '--parallel-max', scalar(@reqs), @a
            or POSIX::_exit(127);
    }
    # curl writes each -w line as its transfer ends: matched by file
    my %line;
    while (my $l = <$ph>) {
        $line{$1} = $l if $l =~ /(\S+)$/;
    }
    close $ph;
    return map { $self->_curl_answer($_, $line{$_}) } @outs;
}

sub get  { my $self = shift; $self->http('GET', @_) }
sub post { my $self = shift; my $p = shift; $self->http('POST', $p, @_) }

# sends the same GET on $n connections at once; returns the status codes
sub parallel_get {
    my ($self, $path, $n, %o) = @_;
    return map { $_->{status} }
           $self->parallel('GET', $path, $n, %o);
}

# n requests at once, each on its own connection, all written before any
# answer is read: ({ status, head, body }, ...) in the order sent (body =>,
# headers => as in http())
sub parallel {
    my ($self, $method, $path, $n, %o) = @_;
    my $timeout = $o{timeout} || 10;
    my $body = $o{body} // '';
    # each => sub { (HEADER => VALUE, ...) }: the Ith request's own headers
    my $head = sub {
        my %hd = (%{ $o{headers} || {} },
                  $o{each} ? $o{each}->($_[0]) : ());
        return "$method $path HTTP/1.0\r\nHost: localhost\r\n"
             . join('', map { "$_: $hd{$_}\r\n" } sort keys %hd)
             . (length $body ? 'Content-Length: ' . length($body) . "\r\n"
                             : '')
             . "\r\n";
    };

    my (@socks, %buf, %took);
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port},
                                      Proto => 'tcp')
            or die "connect: $!\n";
        push @socks, $s;
    }
    my $t0 = time;
    for my $i (0 .. $#socks) {
        syswrite $socks[$i], $head->($i) . $body;
    }

    my $sel = IO::Select->new(@socks);
    my $end = time + $timeout;
    while ($sel->count && time < $end) {
        for my $s ($sel->can_read(0.5)) {
            my $n = sysread $s, my $chunk, 65536;
            if ($n) {
                $buf{$s} .= $chunk;
            } else {
                $took{$s} = time - $t0;
                $sel->remove($s);
                close $s;
            }
        }
    }

    # took: seconds from the requests' sending to this answer's end
    return map { my $b = $buf{$_} // '';
                 my ($code) = $b =~ m{^HTTP/1\.\d (\d+)};
                 my ($top, $text) = $b =~ m{^(.*?)\r\n\r\n(.*)}s;
                 +{ status => $code // 0, head => $top // '',
                    body => $text // '', took => $took{$_} // $timeout } }
               @socks;
}

# Prometheus text from gov_status as { 'name{labels}' => value }
sub metrics {
    my ($self, $path) = @_;
    my $res = $self->get($path || '/gov/status');
    my %m;
    for (split /\n/, $res->{content} // '') {
        next if /^#/;
        my ($k, $v) = /^(\S+)\s+(-?\d+)/ or next;
        $m{$k} = $v;
    }
    return \%m;
}

sub wait_for {
    my ($self, $cond, $timeout) = @_;
    my $end = time + ($timeout || 10);
    while (time < $end) {
        my $r = $cond->();
        return $r if $r;
        sleep 0.05;
    }
    return 0;
}

# ---------------------------------------------------------------- JWT

# Generates keys in PREFIX/keys: rsa (2048), rsa2, ec (P-256), ec2 (P-256),
# ec384 (P-384) with .key (private) and .pub (public PEM), and hs.secret
# (32 random bytes).  Returns the folder.
sub gen_keys {
    my ($self) = @_;
    my $d = "$self->{prefix}/keys";
    make_path($d);

    my %gen = (
        rsa   => 'RSA -pkeyopt rsa_keygen_bits:2048',
        rsa2  => 'RSA -pkeyopt rsa_keygen_bits:2048',
        ec    => 'EC -pkeyopt ec_paramgen_curve:P-256',
        ec2   => 'EC -pkeyopt ec_paramgen_curve:P-256',
        ec384 => 'EC -pkeyopt ec_paramgen_curve:P-384',
    );

    for my $k (sort keys %gen) {
        system("openssl genpkey -algorithm $gen{$k} -out $d/$k.key "
               . "2>/dev/null") == 0 or die "openssl genpkey $k failed\n";
        system("openssl pkey -in $d/$k.key -pubout -out $d/$k.pub "
               . "2>/dev/null") == 0 or die "openssl pkey $k failed\n";
    }

    open my $fh, '<', '/dev/urandom' or die;
    read $fh, my $secret, 32;
    close $fh;
    $self->write_file("$d/hs.secret", $secret);
    $self->{hs_secret} = $secret;

    return $d;
}

sub hs_secret { $_[0]{hs_secret} }

sub token_tool { "$ROOT/build/gov-token" }

# runs gov-token with the given arguments, returns its output (chomped)
sub gov_token {
    my ($self, @args) = @_;
    # a backend's child ignores SIGCHLD: the tool's exit status is wanted
    local $SIG{CHLD} = 'DEFAULT';
    # minted on nginx's clock when it is moved (iat is checked)
    local $ENV{LD_PRELOAD} = $FAKETIME_LIB if $self->{faketime};
    local $ENV{FAKETIME} = sprintf '%+ds', $self->{time_offset}
        if $self->{faketime};
    open my $fh, '-|', $self->token_tool, @args
        or die "gov-token: $!\n";
    local $/;
    my $out = <$fh>;
    close $fh;
    die "gov-token @args failed\n" if $?;
    $out =~ s/\s+\z//;
    return $out;
}

# token(key => 'rsa', alg => 'RS256', kid => 'r1', sub => ..., ...)
sub token {
    my ($self, %o) = @_;
    my $d = "$self->{prefix}/keys";
    my $key = $o{key} eq 'hs' ? "$d/hs.secret" : "$d/$o{key}.key";
    my @args = ('--key', $key, '--alg', $o{alg});
    for my $k (qw(kid sub name act iss aud ttl nbf claims)) {
        push @args, "--$k", $o{$k} if defined $o{$k};
    }
    push @args, '--no-exp' if $o{no_exp};
    return $self->gov_token(@args);
}

# the Authorization header of an HS256 token ("hs" key, kid "h1") with the
# given claims (sub, ttl, claims, ...), as a pair for a headers hash
sub bearer {
    my ($self, %o) = @_;
    return (Authorization => 'Bearer '
            . $self->token(key => 'hs', alg => 'HS256', kid => 'h1', %o));
}

# a JWKS file holding the public halves of [key, alg, kid] triples
sub write_jwks {
    my ($self, $name, @keys) = @_;
    my $d = "$self->{prefix}/keys";
    my @all;
    for my $k (@keys) {
        my ($key, $alg, $kid) = @$k;
        my $file = $key eq 'hs' ? "$d/hs.secret" : "$d/$key.key";
        my $jwks = decode_json($self->gov_token('--key', $file, '--alg', $alg,
                                                '--kid', $kid,
                                                '--print-jwks'));
        push @all, @{ $jwks->{keys} };
    }
    return $self->write_file("$d/$name", encode_json({ keys => \@all }));
}

sub b64url { encode_base64url($_[1]) }

# A department's signature of a request (X-Gov-Signature, v2): hex
# HMAC-SHA256 with its secret over TIMESTAMP "\n" METHOD "\n" PATH "\n"
# BODY, the path as sent without its query.  A function, not a method.
sub sig_v2 {
    my ($secret, $ts, $method, $path, $body) = @_;
    $path =~ s/\?.*//s;
    return 'v2=' . hmac_sha256_hex("$ts\n$method\n$path\n" . ($body // ''),
                                   $secret);
}

# a token assembled by hand from raw header and payload JSON, signed with
# HMAC-SHA256 and "secret" (or unsigned with secret undef)
sub forge {
    my ($self, $header, $payload, $secret) = @_;
    my $input = encode_base64url($header) . '.' . encode_base64url($payload);
    return "$input." unless defined $secret;
    return "$input." . encode_base64url(hmac_sha256($input, $secret));
}

# ----------------------------------------------------------- the end

# ------------------------------------------------------------- OpenID

sub uri_escape {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub uri_unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

sub form_decode {
    my ($s) = @_;
    return map { my ($k, $v) = split /=/, $_, 2;
                 (uri_unescape($k) => uri_unescape($v // '')) }
           grep { length } split /&/, $s // '';
}

# oidc_provider(name => 'idp', client_id => 'portal', secret => 'x')
#
# A mock OpenID Connect provider: a backend named NAME serving, under
# /idp, discovery, authorize (answers at once with a code for the subject
# in login_hint, default 110101199001011234), token (client_secret_basic,
# PKCE S256, codes used once), jwks and logout.  Its state is in files in
# PREFIX/NAME: key ("KEY ALG KID" the ID tokens are signed with),
# jwks.json, codes/, last_id_token; a test may write there: discovery (the
# body served instead), token (JSON: {"status":N,"body":"..."} answered
# instead, or {"claims":{...},"iss":..,"aud":..,"ttl":..} for the ID token),
# deny (authorize answers error=access_denied).  Returns the port; the
# issuer is http://127.0.0.1:PORT/idp.
sub oidc_provider {
    my ($self, %o) = @_;
    my $name = $o{name} || 'idp';
    my $dir = "$self->{prefix}/$name";
    my $port = $self->free_port;
    my $iss = "http://127.0.0.1:$port/idp";
    my $client = $o{client_id} || 'portal';
    my $secret = $o{secret} || 'portal-secret';

    make_path("$dir/codes");
    $self->write_file("$dir/secret", "$secret\n");
    $self->{oidc}{$name} = { port => $port, issuer => $iss, dir => $dir,
                             client => $client };
    $self->oidc_key($name, [ 'rsa', 'RS256', 'idp1' ]);

    # the file "fault.ENDPOINT" (discovery, token, jwks) holds a fault:
    # silent, 500, bad (a 200 that is not what was asked), slow (the
    # answer after 1.6 s) or cut (a reset in the middle of the body)
    my %endpoint = ('/idp/.well-known/openid-configuration' => 'discovery',
                    '/idp/token' => 'token', '/idp/jwks' => 'jwks');
    my $answer = sub {
        my ($req) = @_;
        my $p = $req->{path};
        my %q = form_decode($req->{query});

        if ($p eq '/idp/.well-known/openid-configuration') {
            if (-e "$dir/discovery") {
                return { body => $self->read_file("$dir/discovery") };
            }
            return { body => encode_json({
                issuer => $iss,
                authorization_endpoint => "$iss/authorize",
                token_endpoint => "$iss/token",
                jwks_uri => "$iss/jwks",
                end_session_endpoint => "$iss/logout",
                response_types_supported => ['code'],
                code_challenge_methods_supported => ['S256'],
                id_token_signing_alg_values_supported => ['RS256'] }) };
        }

        if ($p eq '/idp/authorize') {
            my $back = $q{redirect_uri} . '?state=' . uri_escape($q{state});
            if (-e "$dir/deny") {
                return { status => 302,
                         headers => { Location => "$back&error=access_denied" } };
            }
            # from the kernel: forked handlers share one rand() sequence
            open my $ur, '<', '/dev/urandom' or die "urandom: $!\n";
            read $ur, my $raw, 16;
            close $ur;
            my $code = unpack 'H*', $raw;
            $self->write_file("$dir/codes/$code", encode_json({ %q,
                sub => $q{login_hint} || '110101199001011234' }));
            return { status => 302,
                     headers => { Location => "$back&code=$code" } };
        }

        if ($p eq '/idp/token') {
            my $want = 'Basic ' . MIME::Base64::encode_base64(
                uri_escape($client) . ':' . uri_escape($secret), '');
            if (($req->{headers}{authorization} // '') ne $want) {
                return { status => 401, body => '{"error":"invalid_client"}' };
            }
            my %f = form_decode($req->{body});
            my ($code) = ($f{code} // '') =~ /^(\w+)$/;
            my $file = "$dir/codes/" . ($code // 'none');
            my $c = -e $file ? eval { decode_json($self->read_file($file)) }
                             : undef;
            unlink $file;
            if (($f{grant_type} // '') ne 'authorization_code' || !$c
                || ($f{redirect_uri} // '') ne $c->{redirect_uri}
                || $c->{code_challenge_method} ne 'S256'
                || encode_base64url(Digest::SHA::sha256(
                       $f{code_verifier} // '')) ne $c->{code_challenge})
            {
                return { status => 400, body => '{"error":"invalid_grant"}' };
            }
            my $ov = -e "$dir/token"
                     ? decode_json($self->read_file("$dir/token")) : {};
            if ($ov->{status}) {
                return { status => $ov->{status}, body => $ov->{body} // '' };
            }
            my ($key, $alg, $kid) = split ' ', $self->read_file("$dir/key");
            my $id = $self->token(
                key => $key, alg => $alg, kid => $kid, sub => $c->{sub},
                iss => $ov->{iss} // $iss, aud => $ov->{aud} // $client,
                ttl => $ov->{ttl} // 300, name => '张三',
                claims => encode_json({ nonce => $c->{nonce},
                                        %{ $ov->{claims} || {} } }));
            $self->write_file("$dir/last_id_token", $id);
            return { body => encode_json({
                access_token => 'at-' . $code, token_type => 'Bearer',
                expires_in => 300, id_token => $id }) };
        }

        if ($p eq '/idp/jwks') {
            # the file "jwks.down": the keys cannot be had
            return { status => 503, body => 'down' } if -e "$dir/jwks.down";
            return { body => $self->read_file("$dir/jwks.json") };
        }

        if ($p eq '/idp/logout') {
            return { headers => { 'Content-Type' => 'text/html' },
                     body => 'signed out' };
        }

        return { status => 404, body => '{}' };
    };

    $self->backend(sub {
        my ($req) = @_;
        my $ep = $endpoint{ $req->{path} } // '';
        my $fault = -e "$dir/fault.$ep" ? $self->read_file("$dir/fault.$ep")
                                        : '';
        return { delay => 30 } if $fault eq 'silent';
        return { status => 500, body => 'oops' } if $fault eq '500';
        return { status => 200, body => '<html>maintenance</html>' }
            if $fault eq 'bad';
        return { reset => "HTTP/1.1 200 OK\r\nContent-Type: application/json"
                          . "\r\nContent-Length: 200\r\n\r\n{\"iss" }
            if $fault eq 'cut';
        my $res = $answer->($req);
        $res->{delay} = 1.6 if $fault eq 'slow';
        return $res;
    }, name => $name, port => $port);

    return $port;
}

sub oidc { $_[0]{oidc}{ $_[1] || 'idp' } }

# oidc_conf(NAME, redirect_uri => URI, lines => [LINE, ...]): the gov_oidc
# block for the mock provider NAME (oidc_provider): its issuer, client and
# secret, reached through the location /_NAME, the callback at URI
# (default /auth/callback), with LINES added
sub oidc_conf {
    my ($self, $name, %o) = @_;
    $name ||= 'idp';
    return "    gov_oidc $name {\n"
         . "        issuer http://127.0.0.1:%%BACKEND:$name%%/idp;\n"
         . "        client_id portal;\n"
         . "        client_secret_file %%PREFIX%%/$name/secret;\n"
         . "        proxy /_$name;\n"
         . '        redirect_uri ' . ($o{redirect_uri} || '/auth/callback')
         . ";\n"
         . join('', map { "        $_\n" } @{ $o{lines} || [] })
         . "    }\n";
}

# the provider signs with the first [KEY, ALG, KID] and publishes them all
sub oidc_key {
    my ($self, $name, @keys) = @_;
    my $dir = $self->{oidc}{$name}{dir};
    $self->write_file("$dir/key", join ' ', @{ $keys[0] });
    my $d = "$self->{prefix}/keys";
    my @all;
    for my $k (@keys) {
        my ($key, $alg, $kid) = @$k;
        push @all, @{ decode_json($self->gov_token(
            '--key', "$d/$key.key", '--alg', $alg, '--kid', $kid,
            '--print-jwks'))->{keys} };
    }
    $self->write_file("$dir/jwks.json", encode_json({ keys => \@all }));
}

# oidc_login(PATH, cookie => BINDING-less jar...): a browser's login
# through the provider: gov_login's 302, the provider's 302, the
# callback.  Returns { start, authorize, callback (responses), binding
# (the cookie), state, nonce, back (the callback path) }.
sub oidc_login {
    my ($self, $path, %o) = @_;
    my $html = { Accept => 'text/html' };
    my %r;

    $r{start} = $self->get($path, headers => $html);
    my $c = $r{start}{headers}{'set-cookie'} // '';
    ($r{binding}) = $c =~ /^(GOVSID-oidc=[^;]+)/;
    my $loc = $r{start}{headers}{location} // '';
    my %q = form_decode(($loc =~ /\?(.*)$/)[0]);
    $r{state} = $q{state};
    $r{nonce} = $q{nonce};
    $r{query} = \%q;
    return \%r if $o{start_only} || $r{start}{status} != 302;

    $loc .= '&login_hint=' . uri_escape($o{sub}) if $o{sub};
    my $ua = HTTP::Tiny->new(max_redirect => 0, timeout => 10);
    $r{authorize} = $ua->get($loc);
    ($r{back}) = ($r{authorize}{headers}{location} // '')
                 =~ m{^http://127\.0\.0\.1:\d+(/.*)$};
    return \%r if $o{no_callback} || !$r{back};

    $r{callback} = $self->get($r{back}, headers => {
        %$html, Cookie => $o{cookie} // $r{binding} // '' });
    my $sc = $r{callback}{headers}{'set-cookie'} // '';
    for my $one (ref $sc ? @$sc : ($sc)) {
        ($r{sid}) = $one =~ /^GOVSID=([^;]+)/ if $one =~ /^GOVSID=/;
    }
    return \%r;
}

sub error_log { $_[0]->read_file('logs/error.log') }

# fails on [alert], [crit], [emerg] or a sanitizer report; "allow" takes
# regexps for lines a test provokes on purpose; "valgrind_ours" counts only
# the valgrind reports whose stacks pass through this module
sub check_logs {
    my ($self, %o) = @_;

    my @bad = grep { /\[(alert|crit|emerg)\]/ }
              split /\n/, $self->error_log;
    for my $re (@{ $o{allow} || [] }) {
        @bad = grep { !/$re/ } @bad;
    }
    ok(!@bad, 'no [alert], [crit] or [emerg] in error.log')
        or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);

    my @reports;
    for my $f (glob("$self->{prefix}/logs/asan*"),
               glob("$self->{prefix}/logs/ubsan*"))
    {
        push @reports, "$f:\n" . $self->read_file($f);
    }
    for (split /\n/, $self->error_log) {
        push @reports, $_ if /runtime error:|AddressSanitizer|LeakSanitizer/;
    }
    for my $f (glob "$self->{prefix}/logs/valgrind.*.log") {
        my $v = $self->read_file($f);
        if ($o{valgrind_ours}) {
            # other modules loaded on purpose report their own faults:
            # only what passes through this module counts
            $v = join "\n", grep { /ngx_http_gov_module\.so|\bngx_(?:http_)?gov_\w+|\bgov_\w+ \(/ }
                 split /\n==\d+==\s*\n/, $v;
        }
        push @reports, "$f:\n$v" if $v =~ /\S/;
    }
    ok(!@reports, 'no sanitizer or valgrind report')
        or diag(substr(join("\n", @reports), 0, 8000));

    my @personal = $self->personal_in_logs(%o);
    ok(!@personal, 'no personal data in access.log or error.log')
        or diag(join "\n", @personal[0 .. ($#personal > 9 ? 9 : $#personal)]);
}

# The citizens the tests make up: an ID number, a bearer token, a query
# code in a URL not masked, a name (as UTF-8, as nginx escapes it, as a
# form encodes it).  CONTRACT section 17: none of it reaches a log.
our @NAMES = qw(王小宝 张三 王大宝 李四 赵小宝 李小宝 王小二 王小三 王小四
                王小五 王三宝);

sub personal_in_logs {
    my ($self, %o) = @_;
    my @names;
    for my $name (@NAMES) {
        my $bytes = $name;
        utf8::encode($bytes) if utf8::is_utf8($bytes);
        push @names, quotemeta($bytes),
             quotemeta(join '', map { sprintf '\\x%02X', ord } split //, $bytes),
             join('', map { sprintf '%%%02X', ord } split //, $bytes);
    }
    my $name_re = join '|', @names;
    my @found;
    for my $f (glob("$self->{prefix}/logs/access*.log"),
               glob("$self->{prefix}/logs/error*.log"))
    {
        open my $fh, '<:raw', $f or next;
        (my $short = $f) =~ s{.*/}{};
        while (my $line = <$fh>) {
            my $why = $line =~ /(?<![\d.])[1-9]\d{16}[\dXx](?!\d)/
                          ? 'an ID number'
                    : $line =~ /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\./ ? 'a token'
                    : $line =~ /[?&]code=(?!\*)[^&\s"*]{4,}/i ? 'a query code'
                    : $line =~ /(?:$name_re)/i ? 'a name'
                    : next;
            next if grep { $line =~ $_ } @{ $o{personal_allow} || [] };
            chomp $line;
            push @found, "$short ($why): " . substr($line, 0, 300);
        }
    }
    return @found;
}

sub done {
    my ($self, %o) = @_;
    $self->stop_nginx;
    $self->check_logs(%o);
    $self->cleanup;
}

sub cleanup {
    my ($self) = @_;
    return if $self->{cleaned}++;
    return unless $$ == $self->{owner};
    $self->stop_nginx;
    for my $pid (@{ $self->{children} }) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
    $self->stop_redis($_) for keys %{ $self->{redis} };
    my $ok = eval { Test::More->builder->is_passing } // 0;
    if ($ok && !$ENV{TEST_NGINX_KEEP}) {
        remove_tree($self->{prefix});
    } else {
        print STDERR "# test prefix kept: $self->{prefix}\n";
    }
}

sub DESTROY { $_[0]->cleanup }

1;
