#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests in this directory (e2e_test.go), if no Chromium or
# Chrome is on the machine yet. Run by `make setup`, so `make test` on a fresh Debian machine (and CI)
# runs the browser scenarios without a manual step.
#
# Where Chromium cannot be installed (not Debian, not root and no password-less sudo), it says so and
# leaves the browser tests to skip with the same message. In CI (CI=true) that is an error instead: the
# scenarios must run there.
set -euo pipefail

# The names the browser test looks for, in the same order (see findBrowser in e2e_test.go).
BROWSERS=(chromium chromium-browser google-chrome-stable google-chrome)

have_browser() {
  if [[ -n "${CHROME_PATH:-}" && -x "${CHROME_PATH}" ]]; then
    echo "browser tests: using ${CHROME_PATH} (CHROME_PATH)"
    return 0
  fi
  local b
  for b in "${BROWSERS[@]}"; do
    if command -v "$b" >/dev/null 2>&1; then
      echo "browser tests: using $(command -v "$b")"
      return 0
    fi
  done
  return 1
}

# as_root runs a command as root: directly, or through sudo if that needs no password.
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

cannot_install() {
  echo "browser tests: Chromium is not installed and cannot be installed here ($1)." >&2
  echo "browser tests: install Chromium or Chrome (or set CHROME_PATH) to run server/web/e2e; until then they are skipped." >&2
  if [[ "${CI:-}" == "true" ]]; then
    echo "browser tests: CI=true, so this is an error: the browser scenarios must run in CI." >&2
    exit 1
  fi
  exit 0
}

main() {
  have_browser && return 0
  command -v apt-get >/dev/null 2>&1 || cannot_install "no apt-get: not a Debian-based system"
  as_root true || cannot_install "apt-get needs root, and sudo is unavailable or asks for a password"
  echo "browser tests: installing Debian's chromium (a few minutes on a fresh machine)…"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # fonts-dejavu-core: a fresh image may have no font at all, and screenshots would show empty boxes.
  as_root apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  have_browser || cannot_install "apt-get finished but no chromium is on PATH"
}

main "$@"
