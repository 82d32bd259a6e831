#!/usr/bin/env bash
#
# Writes the DEMO identity page: tokens for demo citizens and a demo agent,
# signed with the demo key, each a link through gov_login.
#
#   login-page.sh GOV_TOKEN_BINARY OUTPUT_DIR

set -euo pipefail

tool=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
key="$here/keys/demo-es256.key"

mint() {
    "$tool" --key "$key" --alg ES256 --kid demo-2026 \
        --iss https://idp.demo.gov.example --aud gov-portal --ttl 43200 "$@"
}

zhang=$(mint --sub 110101199001011234 --name 张三)
li=$(mint --sub 310101198505052345 --name 李四)
agent=$(mint --sub 110101199001011234 --name 张三 --act AGENT-0001 \
        --claim agent_name=王五)

mkdir -p "$out"

cat > "$out/login.html" <<HTML
<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>演示登录 · 一网通办</title>
<style>
body { font-size: 20px; line-height: 1.6; max-width: 40em; margin: auto;
       padding: 1em; color: #111; background: #fff; }
.demo { background: #fff3cd; border: 2px solid #b58100; padding: .5em 1em; }
a.who { display: block; margin: 1em 0; padding: 1em; font-size: 1.2em;
        border: 2px solid #0b57d0; border-radius: 8px; color: #0b57d0;
        text-decoration: none; min-height: 48px; }
a.who:focus, a.who:hover { background: #e8f0fe; }
</style>
</head>
<body>
<p class="demo"><strong>演示环境 DEMO</strong>：本页用演示密钥签发令牌，
代替统一身份认证平台，仅供测试，切勿用于生产。</p>
<h1>选择演示身份登录</h1>
<a class="who" href="/auth/login?token=${zhang}&amp;return_to=%2Fbundles%2F">张三（市民本人）</a>
<a class="who" href="/auth/login?token=${li}&amp;return_to=%2Fbundles%2F">李四（市民本人）</a>
<a class="who" href="/auth/login?token=${agent}&amp;return_to=%2Fbundles%2F">王五（帮办代办，代张三办理）</a>
<form method="post" action="/auth/logout"><button type="submit"
 style="font-size:1em;min-height:48px;padding:0 1em">退出登录</button></form>
<script>
/* with JavaScript, come back to the page that asked for a login */
var m = /[?&]return_to=([^&]*)/.exec(location.search);
if (m) {
  document.querySelectorAll('a.who').forEach(function (a) {
    a.href = a.href.replace(/return_to=[^&]*/, 'return_to=' + m[1]);
  });
}
</script>
</body>
</html>
HTML
