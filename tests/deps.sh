#!/bin/sh
# Install the Debian packages the project needs, or say exactly how to.
PKGS="build-essential pkg-config libopenblas-dev libyaml-dev liblua5.4-dev lua5.4 gnuplot-nox zlib1g-dev libcmocka-dev dataset-fashion-mnist clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
        echo "deps: apt-get install failed for:$missing" >&2; exit 1; }
else
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run:  sudo apt-get install -y$missing" >&2
    exit 1
fi
