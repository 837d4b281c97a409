# syntax=docker/dockerfile:1
# The linecook image: one static binary, linecookd, that runs the order API
# (`api`) or a stage's worker (`worker <name>`). ECS passes the command; the
# environment (LINECOOK_*, AWS_*) configures it.

# Build stage. The Go version matches go.mod's (a newer patch release is
# fetched by the go command if the image's is older). The module and build
# caches are cache mounts, so a code change does not re-download anything,
# and `go build` fetches only the modules linecookd imports: no
# `go mod download`, which would fetch Pulumi's for the stack's packages.
FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0
# The context is an allow-list (.dockerignore): only linecookd's sources.
COPY . .
# Reproducible: no paths (-trimpath), no VCS stamp (the context has no
# .git anyway), no build id; the same sources give the same binary on any
# machine (cmd/linecookd's image_test.go builds it twice to show it).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o /out/linecookd ./cmd/linecookd

# Run stage: distroless static has CA certificates (for the AWS APIs),
# tzdata and a nonroot user, and no shell or package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/linecookd /linecookd
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/linecookd"]
