# syntax=docker/dockerfile:1
# One image per server, chosen at build time:
#   docker build --build-arg SERVER=docker -t ravenhelm/mcp-docker:0.1.0 .
# The run stage holds Node and the server package as `npm install` of its packed tarball gives it
# (whatever its `bin` runs: the esbuild bundle once a server ships one), production dependencies only.
# It runs as uid 65534 on a read-only root filesystem; state (audit log) lives under the volume
# /var/lib/ravenhelm. test/e2e/image.test.ts builds the same layout with `docker import` (no base image
# can be pulled on our CI machines) and runs it with --read-only --user 65534 --network none.
ARG NODE_MAJOR=22

FROM node:${NODE_MAJOR}-bookworm-slim AS build
ARG SERVER=docker
WORKDIR /src
RUN npm install -g pnpm@10
COPY . .
RUN pnpm install --frozen-lockfile && pnpm --filter "@ravenhelm/mcp-${SERVER}..." build
# pnpm pack rewrites workspace:* to real versions; npm installs the tarballs like a user would.
RUN mkdir /tarballs /app \
 && for dir in shared auth registry "servers/${SERVER}"; do (cd "$dir" && pnpm pack --pack-destination /tarballs); done \
 && cd /app \
 && echo '{"name":"ravenhelm-image","private":true}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /tarballs/*.tgz \
 && ln -s "node_modules/.bin/ravenhelm-mcp-${SERVER}" /app/server \
 && mkdir -p /var/lib/ravenhelm && chown 65534:65534 /var/lib/ravenhelm

# Node and its shared libraries only: no shell, no package manager, no dev dependencies.
FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot
COPY --from=build /app /app
COPY --from=build --chown=65534:65534 /var/lib/ravenhelm /var/lib/ravenhelm
ENV NODE_ENV=production \
    HOME=/var/lib/ravenhelm \
    XDG_STATE_HOME=/var/lib/ravenhelm \
    RAVENHELM_HTTP_HOST=0.0.0.0
VOLUME ["/var/lib/ravenhelm"]
USER 65534:65534
ENTRYPOINT ["/nodejs/bin/node", "/app/server"]
CMD ["--http"]
