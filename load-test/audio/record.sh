#!/usr/bin/env bash
# Regenerates the recorded questions: English speech from espeak-ng, resampled by sox to what Nova Sonic
# takes (16 kHz, 16-bit, mono PCM WAV). Debian: apt-get install espeak-ng sox. The files are committed, so
# the load test needs neither.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

record() {
	local name="$1" text="$2"
	espeak-ng -v en-us -s 160 -w "$tmp/$name.wav" "$text"
	sox --no-dither "$tmp/$name.wav" -r 16000 -c 1 -b 16 -e signed-integer "$name.wav"
}

record hello "Hello! How are you today?"
record date "What is the date today?"
record weather "What is the weather like in Seattle right now?"
record thanks "Thank you, that is all. Goodbye."
