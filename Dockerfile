# syntax=docker/dockerfile:1
# The speech gateway image, shipped by both stacks. The ECS stack builds it for linux/arm64 (Graviton), the
# EKS stack for linux/amd64 because EKS on Fargate cannot run Arm. By hand:
#   docker build --platform linux/arm64 -t nova-sonic-gateway .
# server/dockerfile_test.go runs the `go build` line below for both architectures and checks that the
# result is a static binary, so keep that command on one line.

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
# Set by BuildKit from --platform; empty under the legacy builder, where the build falls back to arm64.
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
COPY server/ server/
# Build only ./server: `go mod download` would fetch every module in go.mod, the CDK's 279 MB included.
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH:-arm64} go build -trimpath -ldflags="-s -w" -o /out/gateway ./server

# distroless/static has CA certificates and tzdata, no shell and no package manager; "nonroot" is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/gateway"]
