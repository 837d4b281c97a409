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
# machine (tools/image's tests build it twice, from two paths, to show it).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o /out/linecookd ./cmd/linecookd

# The image's files besides the binary, the same as `linecook image`
# writes (tools/image; its tests compare them with these lines): the root
# and nonroot users and groups, and nonroot's home. linecookd embeds its CA
# roots and zone database, so the image needs no base.
RUN mkdir -p /rootfs/etc /rootfs/home/nonroot && \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /rootfs/etc/passwd && \
    printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group && \
    chmod 644 /rootfs/etc/passwd /rootfs/etc/group && chmod 700 /rootfs/home/nonroot

# Run stage: nothing but those files and linecookd, owned by root (the
# process cannot replace its program or add users); the home is nonroot's.
FROM scratch
COPY --from=build /rootfs/etc /etc
COPY --from=build --chown=65532:65532 /rootfs/home/nonroot /home/nonroot
COPY --from=build /out/linecookd /linecookd
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/linecookd"]
