#!/usr/bin/env bash
# Runs the Artillery scenario (scenario.yml) and checks its report (check-report.js).
#
#   load-test/run.sh smoke   two one-turn conversations; fails unless both complete (make test)
#   load-test/run.sh full    the load test (make load)
#
# Without NOVASONIC_WS_URL it builds and starts a local gateway (-local: the simulated Nova Sonic, any
# token) with limits raised for the run, and stops it afterwards. With NOVASONIC_WS_URL (a deployed stack's
# wss://<CloudFront domain>/interact-s2s) it needs Cognito users: README.md says how.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
artillery="$here/.artillery/node_modules/.bin/artillery"
gateway_pid=""
workdir=""

usage() {
	echo "usage: $0 smoke|full" >&2
	exit 2
}

cleanup() {
	if [[ -n "$gateway_pid" ]]; then
		kill "$gateway_pid" 2>/dev/null || true
		wait "$gateway_pid" 2>/dev/null || true
	fi
	if [[ -n "$workdir" ]]; then
		rm -rf "$workdir"
	fi
}

# start_local_gateway builds the gateway and starts it on a free port; it sets NOVASONIC_WS_URL.
start_local_gateway() {
	workdir="$(mktemp -d)"
	(cd "$here/.." && go build -o "$workdir/gateway" ./server)
	# Every virtual user connects from 127.0.0.1 with its own token: the per-address and connection-rate
	# limits, which protect a gateway on the internet, would refuse the load itself.
	MAX_CONNECTIONS_PER_ADDRESS=10000 NEW_CONNECTIONS_PER_SECOND=1000 MAX_CONVERSATIONS="${MAX_CONVERSATIONS:-1000}" \
		"$workdir/gateway" -local -port 0 >"$workdir/gateway.log" 2>&1 &
	gateway_pid=$!
	local addr=""
	for _ in $(seq 1 600); do
		addr="$(grep -o '"addr":"[^"]*"' "$workdir/gateway.log" | head -n 1 | cut -d'"' -f4 || true)"
		[[ -n "$addr" ]] && break
		if ! kill -0 "$gateway_pid" 2>/dev/null; then
			cat "$workdir/gateway.log" >&2
			echo "the local gateway exited before listening" >&2
			exit 1
		fi
		sleep 0.1
	done
	if [[ -z "$addr" ]]; then
		echo "the local gateway did not listen within 60 s" >&2
		exit 1
	fi
	export NOVASONIC_WS_URL="ws://$addr/interact-s2s"
}

main() {
	[[ $# -eq 1 ]] || usage
	local mode="$1"
	local env_args=()
	case "$mode" in
	smoke)
		env_args=(-e smoke)
		export NOVASONIC_TURNS=1
		;;
	full)
		env_args=(-e full)
		# Defaults for a local run: conversations of four turns arriving at up to 2 a second for 2 minutes
		# after a 30 s ramp, about 50 open at once.
		export NOVASONIC_TURNS="${NOVASONIC_TURNS:-4}"
		export NOVASONIC_ARRIVAL_RATE="${NOVASONIC_ARRIVAL_RATE:-2}"
		export NOVASONIC_RAMP_SECONDS="${NOVASONIC_RAMP_SECONDS:-30}"
		export NOVASONIC_DURATION_SECONDS="${NOVASONIC_DURATION_SECONDS:-120}"
		;;
	*) usage ;;
	esac
	if [[ ! -x "$artillery" ]]; then
		echo "Artillery is not installed: run make load-deps" >&2
		exit 1
	fi
	trap cleanup EXIT
	if [[ -z "${NOVASONIC_WS_URL:-}" ]]; then
		start_local_gateway
	fi
	mkdir -p "$here/reports"
	local report
	report="$here/reports/$mode-$(date -u +%Y%m%dT%H%M%SZ).json"
	echo "Artillery $mode run against $NOVASONIC_WS_URL; report: $report"
	# The scenario's path is relative: Artillery resolves the processor beside it.
	(cd "$here" && ARTILLERY_DISABLE_TELEMETRY=true "$artillery" run --quiet "${env_args[@]}" --output "$report" scenario.yml)
	node "$here/check-report.js" "$report" "$NOVASONIC_TURNS"
}

main "$@"
