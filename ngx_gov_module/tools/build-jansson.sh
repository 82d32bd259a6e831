#!/usr/bin/env bash
#
# build-jansson.sh DIR: jansson as a position-independent static archive,
# DIR/lib/libjansson.a with its headers in DIR/include.
#
# Debian's libjansson.a is not built with -fPIC, so it cannot be linked
# into a shared object; the module must still carry its own copy, its
# symbols local (see `config`).  This takes the source of the very version
# of libjansson-dev installed here from Debian's archive (apt checks it
# against the signed Sources index), applies Debian's patches
# (dpkg-source) and builds it with CMake, -fPIC, no shared library.
# Nothing outside DIR is written.

set -euo pipefail

dir=$(realpath -m "$1")
version=$(dpkg-query -W -f='${Version}' libjansson-dev)
apt="$dir/apt"

rm -rf "$dir"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources" \
         "$dir/src"


. /etc/os-release

cat > "$apt/sources/debian-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: ${VERSION_CODENAME:-bookworm}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

aptopts=(-o Dir::Etc::SourceList=/dev/null
         -o Dir::Etc::SourceParts="$apt/sources"
         -o Dir::State::Lists="$apt/lists"
         -o Dir::Cache="$apt/cache"
         -o Debug::NoLocking=1
         -o APT::Sandbox::User="$(id -un)")

echo "jansson $version: fetching Debian's source package"
apt-get "${aptopts[@]}" -qq update
(cd "$dir/src" && apt-get "${aptopts[@]}" -qq source "jansson=$version" \
                  >/dev/null)

srcdir=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d -name 'jansson-*')

cmake -S "$srcdir" -B "$dir/cmake" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DJANSSON_BUILD_SHARED_LIBS=OFF \
      -DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON \
      -DJANSSON_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$dir" \
      -DCMAKE_C_FLAGS="-O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2" \
      > "$dir/cmake.log"
cmake --build "$dir/cmake" -j2 >> "$dir/cmake.log"
cmake --install "$dir/cmake" >> "$dir/cmake.log"

rm -rf "$apt" "$dir/src" "$dir/cmake"

echo "jansson $version: $dir/lib/libjansson.a"
