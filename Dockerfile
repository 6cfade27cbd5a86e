# Tasky: the multi-stage build of ../shared/reference/container-build.md ("Dockerfile
# Breakdown"), kept line for line where it is right. Where it departs, the comment says why.
#
# The bases are build args so offline machines can use the stand-ins `inv bases` builds
# from Debian packages; with network the document's images are used unchanged.
ARG GO_IMAGE=golang:1.19
ARG RUNTIME_IMAGE=alpine:3.17.0

# ---- Stage 1: build ---------------------------------------------------------------
# The build stage runs on the builder's own platform ($BUILDPLATFORM) and cross-compiles
# for the image's ($TARGETARCH below): Go needs no emulation to build for arm64, and one
# warm Go cache serves every platform. (A plain `docker build` sets both to the engine's.)
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
# Lets `inv clean --cache` find this stage's cached images (the classic builder keeps them),
# and only those built as the configured image name.
ARG TASKY_IMAGE=tasky
LABEL org.tasky-ops.managed="true" org.tasky-ops.role="build-stage" \
      org.tasky-ops.image="${TASKY_IMAGE}"
# Where modules come from, passed through as the document's troubleshooting asks
# (`--build-arg GOFLAGS=-mod=vendor`): undeclared, those build args would be ignored.
ARG GOFLAGS
ARG GOPROXY
ARG GOSUMDB
ARG GONOSUMDB
# GOPRIVATE holds module path patterns, not a secret (hadolint goes by the name).
# hadolint ignore=DL3064
ARG GOPRIVATE

WORKDIR /go/src/tasky
# The document's own "Caching Strategy": copy the module files first so `go mod download`
# is cached until dependencies change. `go.sum*` because a standard-library-only module
# has no go.sum, and a plain `go.sum` would fail the COPY.
COPY go.mod go.sum* ./
# Cache mounts (BuildKit only) keep Go's module and build caches between builds, so a
# one-file change recompiles one package, not the standard library. The classic builder
# cannot read them: ops/build/dockerfile.py's classic_dockerfile() removes the flags for it.
# TASKY_CACHE is this checkout's cache scope (ops/engine/ownership.py): in the ids it keeps
# each project's Go caches apart on a shared engine, and named in this RUN line (which also
# creates the build cache's record) it marks BuildKit's records of them, which show no id
# and no label, so `inv clean --cache` removes this project's and never another's. Engine
# 20.10's frontend expands no ARG in mount options: `inv build` writes the value in
# itself (dockerfile.with_cache_scope); other builders share one "shared" cache.
# A vendored app (GOFLAGS=-mod=vendor, which `inv build` sets when vendor/modules.txt
# exists) needs no download, and `go mod download` would ignore vendor/ and go to the
# network anyway.
ARG TASKY_CACHE=shared
RUN --mount=type=cache,id=tasky-ops-gomod-${TASKY_CACHE},target=/go/pkg/mod \
    --mount=type=cache,id=tasky-ops-gobuild-${TASKY_CACHE},target=/root/.cache/go-build \
    case " ${GOFLAGS} " in \
      *" -mod=vendor "*) echo "GOFLAGS=${GOFLAGS}: modules come from vendor/" ;; \
      *) go mod download ;; \
    esac && : "Go caches of ${TASKY_CACHE}"
COPY . .
# The document builds with --build-arg VERSION=... but never declares it: undeclared args
# are ignored (with a warning) and the binary never learns its version. Declared here, after
# the download step, so a new version (every commit) invalidates only the compile.
ARG VERSION=dev
# The document hard-codes GOARCH=amd64, which ships an amd64 binary in an arm64 image
# ("exec format error") whenever the image is built for arm64. The target platform names
# the architecture; the classic builder sets none, and then Go's own (the engine's) holds.
ARG TARGETOS
ARG TARGETARCH
ARG TARGETVARIANT
# -trimpath and -s -w: no host paths and no symbol tables in the shipped binary.
RUN --mount=type=cache,id=tasky-ops-gomod-${TASKY_CACHE},target=/go/pkg/mod \
    --mount=type=cache,id=tasky-ops-gobuild-${TASKY_CACHE},target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-$(go env GOARCH)} \
    GOARM=${TARGETVARIANT#v} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /go/src/tasky/tasky .

# ---- Stage 2: release -------------------------------------------------------------
# Ordered for rebuilds: what does not depend on the binary comes first (the user, the
# directory, wizexercise.txt, the assets), so a code change re-runs only the binary's COPY;
# the version label comes last, so a new version (every `inv dev` cycle, every commit)
# changes metadata only. In the document's order each rebuild ran both RUN steps again.
FROM ${RUNTIME_IMAGE} AS release

# Create non-root user, with a fixed uid and gid (10001, above any host's own users) so
# that USER below can name it by number: Kubernetes' runAsNonRoot cannot verify a user
# name (the pod fails with CreateContainerConfigError: "image has non-numeric user
# (appuser), cannot verify user is non-root"). The names stay, for people and `id`.
RUN addgroup -S -g 10001 appgroup && adduser -S -D -H -u 10001 -G appgroup appuser

WORKDIR /app

# Create wizexercise.txt as required by the exercise (owned by appuser like the rest).
RUN echo "Evan Spangler - Wiz Technical Exercise 2024" > /app/wizexercise.txt \
    && chown appuser:appgroup /app /app/wizexercise.txt

# Copy assets and binary. --chown replaces the document's `RUN chown -R appuser:appgroup
# /app`, which rewrote every copied file into a new layer and so stored the binary twice.
COPY --from=build --chown=appuser:appgroup /go/src/tasky/assets ./assets
COPY --from=build --chown=appuser:appgroup /go/src/tasky/tasky .

# Switch to non-root user: appuser:appgroup, by number (see above)
USER 10001:10001

EXPOSE 8080

# The documented probe needs a shell (`|| exit 1` maps any wget failure to Docker's
# "unhealthy" code 1), so hadolint's exec-form rule does not apply here.
# hadolint ignore=DL3025
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD wget --no-verbose --tries=1 --spider http://localhost:8080/ || exit 1

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="tasky" \
      org.opencontainers.image.description="Tasky todo web service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

ENTRYPOINT ["/app/tasky"]
