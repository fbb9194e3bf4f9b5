#!/bin/sh
# Installs the toolchains of shade-bench's out-of-process peers (Debian 12):
#
#   golang-1.19-go           Go 1.19, peer `go`     (/usr/lib/go-1.19/bin/go)
#   libgc-dev                Boehm GC, peer `boehm` (C, linked with -lgc; needs a C compiler)
#   openjdk-17-jdk-headless  Java 17, peers `java-g1` and `java-zgc` (javac, java)
#
# Idempotent: installs only the packages that are missing, and runs
# `apt-get update` once, only if something is to be installed. Run as root:
#
#   sudo bench/setup.sh
#
# shade-bench itself detects a missing toolchain, reports its peers as skipped
# and runs the rest.
set -eu

wanted="golang-1.19-go libgc-dev openjdk-17-jdk-headless"
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || wanted="$wanted gcc libc6-dev"

missing=""
for p in $wanted; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        echo "setup.sh: $p is installed"
    else
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "setup.sh: nothing to install"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: must run as root to install:$missing" >&2
    exit 1
fi

echo "setup.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y --no-install-recommends $missing
echo "setup.sh: done"
