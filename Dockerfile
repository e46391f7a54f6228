# reboot-bot's production image: `docker build -t reboot-bot .`, then see compose.yaml and the README,
# "Running in production".
#
# The build reaches no network but the npm registry (and the registry of the base images):
# - better-sqlite3 is compiled from source instead of prebuild-install fetching a binary from GitHub
#   (npm_config_build_from_source), and node-gyp takes Node's headers from the image
#   (npm_config_nodedir=/usr/local, where the official images install Node) instead of nodejs.org;
# - the compiler comes with the full node image (python3, make, g++: buildpack-deps), so no apt-get.
# The runtime is the slim image of the same Node major and Debian release, so the compiled module
# loads there (same Node ABI, same glibc). Both tags come from one argument to keep them together.
ARG NODE_TAG=20-bookworm

FROM node:${NODE_TAG} AS toolchain
WORKDIR /app
ENV npm_config_build_from_source=true \
    npm_config_nodedir=/usr/local \
    npm_config_audit=false \
    npm_config_fund=false \
    npm_config_update_notifier=false
COPY package.json package-lock.json ./

# Compiles TypeScript with every dependency (typescript, the @types packages).
FROM toolchain AS build
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY commands ./commands
RUN npx tsc -p tsconfig.build.json

# The dependencies the bot runs with, and nothing else.
FROM toolchain AS prod-deps
RUN npm ci --omit=dev

FROM node:${NODE_TAG}-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    REBOOT_DB=/data/reboot-bot.db
WORKDIR /app
# Root owns the code; the bot's user can write only the database folder.
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/commands ./dist/commands
# A named volume starts with this folder's owner, so the bot's user can write it.
RUN mkdir /data && chown node:node /data
# `node` (uid 1000) is the unprivileged user of the official images.
USER node
VOLUME ["/data"]
EXPOSE 3000
# GET /healthz: 200 while the bot can work, 503 with the reason when it cannot (README, "Installing it
# in a Slack workspace"). The slim image has no curl, so Node's fetch asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# Node itself is the process Docker signals: SIGTERM stops the bot cleanly (src/main.ts).
CMD ["node", "dist/src/main.js"]
