#!/bin/sh
# build-deps.sh: libsodium and jansson for WebAssembly, from Debian's own source
# packages (the versions the C build links), built once and cached.
#
#   client/web/tools/build-deps.sh PREFIX
#
# PREFIX/include and PREFIX/lib/{libsodium,libjansson}.a are the result;
# PREFIX/.done-<pkg>-<version> marks a finished build, so a second run does
# nothing. Needs emscripten (emcc, emconfigure, emmake), dpkg-dev and a
# deb-src line for bookworm main, autoconf, automake and libtool (Debian's
# source packages ship no generated configure; deploy/install-deps.sh adds all).
# libsodium is configured as its dist-build/emscripten.sh does (no asm, no
# pthreads, no SSP, static), but as the full ("sumo") library: casus needs
# Argon2id, X25519 sealed boxes, XChaCha20-Poly1305, Ed25519 and BLAKE2b.
set -eu
PREFIX=${1:?usage: build-deps.sh PREFIX}
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
# Several build targets depend on these libraries, and make may start this
# script for each of them at once: one run at a time, the others then find
# the finished build and do nothing.
exec 9>"$PREFIX/.lock"
flock 9
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}   # emcc needs Debian's acorn
JOBS=${CASUS_WASM_JOBS:-2}
SRC="$PREFIX/src"
mkdir -p "$SRC"

fetch() { # fetch PKG: unpack Debian's source package once, print its folder
	pkg=$1
	d=$(find "$SRC" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n 1)
	if [ -z "$d" ]; then
		(cd "$SRC" && apt-get source -q --download-only "$pkg" >/dev/null 2>&1 &&
		 dpkg-source --no-check -x "$(ls "$pkg"_*.dsc | head -n 1)" >/dev/null)
		d=$(find "$SRC" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n 1)
	fi
	[ -n "$d" ] || { echo "build-deps: apt-get source $pkg failed (is there a deb-src line?)" >&2; exit 1; }
	echo "$d"
}

build() { # build PKG CONFIGURE-ARGS...
	pkg=$1; shift
	d=$(fetch "$pkg")
	ver=$(basename "$d" | sed "s/^$pkg-//")
	done_mark="$PREFIX/.done-$pkg-$ver"
	if [ -f "$done_mark" ]; then
		echo "build-deps: $pkg $ver for wasm is cached in $PREFIX"
		return 0
	fi
	echo "build-deps: building $pkg $ver for wasm"
	start=$(date +%s)
	(cd "$d" &&
	 { [ -x configure ] || autoreconf -fi >build-wasm.log 2>&1; } &&
	 emconfigure ./configure --host=wasm32-unknown-emscripten --disable-shared --enable-static --prefix="$PREFIX" "$@" >>build-wasm.log 2>&1 &&
	 emmake make -j"$JOBS" >>build-wasm.log 2>&1 &&
	 emmake make install >>build-wasm.log 2>&1) || {
		echo "build-deps: $pkg failed; last lines of $d/build-wasm.log:" >&2
		tail -n 30 "$d/build-wasm.log" >&2
		exit 1
	}
	touch "$done_mark"
	echo "build-deps: $pkg $ver built in $(( $(date +%s) - start )) s"
}

build libsodium --without-pthreads --disable-ssp --disable-asm --disable-pie CFLAGS="-O2"
build jansson CFLAGS="-O2"
