# syntax=docker/dockerfile:1
#
# agent-launcher agent image: Node (for the `claude` agent) + Python (for the
# launcher). The launcher is the ENTRYPOINT: it fetches the workspace's secrets
# from the platform, strips LLM credentials that are not the workspace's own,
# and then execs the agent command (CMD, `claude` by default).
#
# No secret is ever baked into this image. The workspace token is mounted at run
# time as a FILE (default /configs/.auth_token); see examples/compose.yaml and
# examples/kubernetes/.
#
# Build:  docker build -t agent-launcher:dev .
# Run:    docker run --rm -it --init \
#           -e PLATFORM_URL=https://platform.example -e WORKSPACE_ID=<uuid> \
#           -v /path/to/token:/configs/.auth_token:ro agent-launcher:dev

# @anthropic-ai/claude-code >= 2.x declares engines.node ">=22.0.0".
ARG NODE_IMAGE=node:22-bookworm-slim

# --------------------------------------------------------------------------
# base: Node image + Debian's Python 3.11 (bookworm) with venv support.
# python3 / python3-venv are Debian's metapackages, pinned to bookworm's
# version; they pull the matching python3.11 packages. ca-certificates is for
# TLS to the platform and the LLM provider.
# --------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        ca-certificates=20250419~deb12u2 \
        python3=3.11.2-1+b1 \
        python3-venv=3.11.2-1+b1 \
 && rm -rf /var/lib/apt/lists/*

# --------------------------------------------------------------------------
# launcher-build: install the launcher from the repo source into a venv at
# /opt/launcher. Only the files needed to build the package are copied; the
# build backend named in pyproject.toml is fetched by pip's isolated build.
# --------------------------------------------------------------------------
FROM base AS launcher-build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY launcher/ ./launcher/
RUN python3 -m venv /opt/launcher \
 && /opt/launcher/bin/pip install --no-cache-dir /src

# --------------------------------------------------------------------------
# final image
# --------------------------------------------------------------------------
FROM base

# Pinned claude-code release; keep in sync with e2e/package.json.
ARG CLAUDE_CODE_VERSION=2.1.332

# The real agent from npm. Its postinstall links the native binary from the
# matching platform optionalDependency, so optional deps must NOT be omitted.
RUN npm install --global --no-fund --no-audit \
        "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
 && npm cache clean --force

COPY --from=launcher-build /opt/launcher /opt/launcher

# Only the launcher's own commands go on PATH: with the venv's bin first,
# the agent's python3 and pip would silently be the launcher's.
RUN ln -s /opt/launcher/bin/agent-launcher /opt/launcher/bin/agent-launcher-devserver /usr/local/bin/

# Non-secret configuration only. The token path defaults to
# $CONFIGS_DIR/.auth_token; it is mounted at run time, never set here.
ENV HOME=/home/agent \
    CONFIGS_DIR=/configs \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DISABLE_AUTOUPDATER=1

# Unprivileged user (numeric uid so Kubernetes' runAsNonRoot can verify it).
# -l: don't add the high uid to lastlog (avoids a huge sparse file).
RUN useradd -l --uid 10001 --user-group --create-home --home-dir /home/agent \
        --shell /bin/bash agent \
 && mkdir -p /configs /workspace \
 && chown agent:agent /workspace

USER 10001:10001
WORKDIR /workspace

# No HEALTHCHECK: the launcher does not stay resident (it execs the agent,
# which is an interactive/CLI process with no endpoint to probe), so there is
# nothing meaningful to check; liveness is the process itself.
HEALTHCHECK NONE

ENTRYPOINT ["agent-launcher", "exec", "--"]
CMD ["claude"]
