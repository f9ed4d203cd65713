# One entry point for people and CI. `make run` and `make test` are the README's quick start and need no
# AWS account; every target installs what it needs (`deps`; `setup` adds Chromium for the browser tests).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1

# The CDK CLI lives in a dot-directory: `go ... ./...` would otherwise walk the CLI's template .go files.
CDK_DIR := .cdk
CDK := $(CDK_DIR)/node_modules/.bin/cdk
# Packages whose tests start the jsii kernel (node). They run without -race: the race detector makes the
# 279 MB awscdk module compile several times slower and the CDK code has no goroutines of ours to check.
CDK_PKGS := $(shell go list ./constructs/... ./stacks/... 2>/dev/null)
# The browser scenarios run in a target of their own (test-browser), verbosely, so that their measurements,
# the paths of their screenshots and a skip without a browser show in the log.
BROWSER_PKG := ./server/web/e2e
GATEWAY_PKGS := $(shell go list ./server/... 2>/dev/null | grep -v '/server/web/e2e$$')
# The EKS stack's Kubernetes objects: plain Go, no jsii.
KUBE_PKGS := ./kube/...

.PHONY: help setup deps browser run gateway test test-tools test-gateway test-browser test-kube test-cdk test-deploy test-load load-deps load capacity fuzz bench lint synth diff diff-eks template-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: deps browser ## download Go modules, install the pinned CDK CLI and kubectl layer, and Chromium for the browser tests

deps: $(CDK) ## download Go modules and install the pinned CDK CLI and kubectl layer
	go mod download

# Debian's chromium, where it is missing and can be installed (root or password-less sudo); elsewhere the
# browser tests skip and say so. Not part of `make run`: talking to the gateway needs no test browser.
browser: ## install Chromium for the browser tests if it is missing (Debian, as root)
	server/web/e2e/install-chromium.sh

$(CDK): $(CDK_DIR)/package.json $(CDK_DIR)/.npmrc $(wildcard $(CDK_DIR)/package-lock.json)
	npm ci --prefix $(CDK_DIR) --no-audit --no-fund --loglevel=error
	touch $@

run: synth gateway ## the main job without an AWS account: synthesize the stacks, then run the gateway locally

gateway: ## run only the gateway, with the built-in simulated Nova Sonic, and print its URL
	go run ./server -local

test: setup test-tools test-gateway test-browser test-kube test-cdk test-deploy test-load ## run every test

# shellcheck, Wine and a Windows node.exe for the tests in deploy/; where they cannot be installed, those
# tests skip with the reason (and fail under CI=true).
test-tools: ## install what the deploy-script tests need (deploy/install-test-tools.sh)
	deploy/install-test-tools.sh

test-gateway:
	go vet ./server/...
	go test -race -count=1 $(GATEWAY_PKGS)

# The gateway under test is built with -race too (reusing what test-gateway compiled), so a data race the
# browser provokes fails the scenario.
test-browser: ## the web client in headless Chromium against the gateway; screenshots in server/web/e2e/artifacts/
	go test -race -count=1 -v -timeout 15m $(BROWSER_PKG)

test-kube:
	go vet $(KUBE_PKGS)
	go test -race -count=1 $(KUBE_PKGS)

# main_ecs.go and main_eks.go are `//go:build ignore` (standalone mains beside the module's packages), so
# ./... never sees them: vet each by name (together they would be one package with two mains).
test-cdk:
	go vet main_ecs.go
	go vet main_eks.go
	$(if $(CDK_PKGS),go vet $(CDK_PKGS) && go test -count=1 -timeout 20m $(CDK_PKGS),@echo "no CDK packages yet")

# deploy.sh and deploy.bat against stand-in tools (deploy.bat under Wine), shellcheck and actionlint.
test-deploy:
	go vet ./deploy/...
	go test -count=1 -timeout 20m ./deploy/...

# Each stack into its own cloud assembly: cdk.json runs `go run main_ecs.go`, --app names the EKS main.
# Both stacks are environment-agnostic, so synth needs no AWS account.
CDK_OUT_ECS := cdk.out/ecs
CDK_OUT_EKS := cdk.out/eks

synth: deps ## synthesize both stacks with cdk-nag into cdk.out/ecs/ and cdk.out/eks/ (no AWS account needed)
	$(CDK) synth --no-notices --quiet --output $(CDK_OUT_ECS)
	$(CDK) synth --no-notices --quiet --app "go run main_eks.go" --output $(CDK_OUT_EKS)

diff: deps ## compare the ECS stack with the deployed one (needs AWS credentials)
	$(CDK) diff --no-notices --output $(CDK_OUT_ECS)

diff-eks: deps ## compare the EKS stack with the deployed one (needs AWS credentials)
	$(CDK) diff --no-notices --app "go run main_eks.go" --output $(CDK_OUT_EKS)

# What CI's template job runs: each stack synthesized by the CDK CLI with cdk-nag into cdk.out/<stack>/,
# then compared with stacks/testdata/<stack>.template.json with asset hashes masked. An infrastructure
# change fails until its golden file is updated (`go test ./stacks -run Golden -update`); an edit under
# server/ alone passes. The EKS stack is skipped while main_eks.go is absent.
template-check: deps ## synthesize both stacks with cdk-nag and compare them with their golden templates (no AWS account needed)
	go run ./stacks/cmd/templatecheck -cdk $(CDK)

# Artillery, pinned, in a dot-directory like the CDK CLI (Go's ./... never walks it). Its Playwright
# engine would download a browser at install time: the load test drives WebSockets, not browsers.
LOAD_DIR := load-test/.artillery
ARTILLERY := $(LOAD_DIR)/node_modules/.bin/artillery

$(ARTILLERY): $(LOAD_DIR)/package.json $(LOAD_DIR)/package-lock.json $(LOAD_DIR)/.npmrc
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix $(LOAD_DIR) --no-audit --no-fund --loglevel=error
	touch $@

load-deps: $(ARTILLERY) ## install the pinned Artillery for the load test

# The processor's unit tests, then two one-turn conversations through a local gateway: it fails unless
# both complete with their turn answered, whatever the timings.
test-load: $(ARTILLERY)
	node --test load-test/processor.test.js
	load-test/run.sh smoke

load: $(ARTILLERY) ## the Artillery load test against a local gateway, or NOVASONIC_WS_URL (load-test/README.md)
	load-test/run.sh full

# The Go load program: CPU, memory and latency per conversation through the gateway and through the SDK
# alone, one core each. The default flags are BENCHMARKS.md's main table; -h lists the others.
CAPACITY_FLAGS ?= -conversations 50,100,200,300,400 -window 20s -bedrock-max-frame 16384

capacity: ## measure CPU, memory and latency per conversation with the Go load program (BENCHMARKS.md)
	go run ./server/cmd/loadtest $(CAPACITY_FLAGS)

# How long `make fuzz` runs the validator's fuzz target; its seed corpus runs in every `make test`.
FUZZTIME ?= 5m

# The validator, then the JSON checker it relies on (against encoding/json), FUZZTIME each.
fuzz: ## fuzz the gateway's input validator and its JSON checker for FUZZTIME each (default 5m); a crasher lands in server/gateway/testdata/fuzz
	go test -run '^$$' -fuzz '^FuzzParseInputEvent$$' -fuzztime $(FUZZTIME) ./server/gateway/
	go test -run '^$$' -fuzz '^FuzzCheckJSONAgreesWithEncodingJSON$$' -fuzztime $(FUZZTIME) ./server/gateway/

bench: ## run the Go benchmarks (record results in BENCHMARKS.md)
	go test -run '^$$' -bench . -benchmem $(GATEWAY_PKGS)

lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
