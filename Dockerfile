#
# agent-launcher agent image: Node (for the agent CLI) + Python (for the
# launcher). The launcher is the ENTRYPOINT: it fetches the workspace's secrets
# from the platform, strips LLM credentials that are not the workspace's own,
# and then execs the agent command (CMD: `claude` by default).
#
# No `# syntax=` line on purpose: nothing here needs a newer frontend, and with
# one BuildKit would first fetch a frontend image, which fails on air-gapped or
# mirror-only builders. The classic builder (DOCKER_BUILDKIT=0) works too.
#
# No secret is ever baked into this image. The workspace token is mounted at run
# time as a FILE (default /configs/.auth_token); see README "In a container",
# examples/compose.yaml and examples/kubernetes/.
#
# Build:  docker build -t agent-launcher .                               # claude-code
#         docker build --build-arg AGENT=codex -t agent-launcher:codex .  # or gemini-cli
#         docker build --target demo -t agent-launcher:demo .             # + the platform stand-in
# The launcher's own commands:  docker run --rm --entrypoint agent-launcher IMAGE check --json
#
# Behind a TLS-intercepting proxy (a corporate CA), give the build the CA
# bundle paths inside the base image: --build-arg NODE_EXTRA_CA_CERTS=/path.pem
# (npm) and --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt (pip;
# Debian's ca-certificates adds /usr/local/share/ca-certificates/*.crt to it).
# The proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) are Docker's
# predefined build arguments; a registry mirror is --build-arg
# NPM_CONFIG_REGISTRY=URL and --build-arg PIP_INDEX_URL=URL (URLs without
# credentials: build arguments are recorded in the image's history).
#
# What is pinned, and what is deliberately left to the base:
#   - the launcher's Python dependencies: docker/requirements.lock, versions and
#     hashes, generated from pyproject.toml (README says how to regenerate);
#   - the build backend: docker/build-constraints.txt;
#   - the agent CLIs: exact npm versions (the ARGs below; keep claude-code in
#     sync with e2e/package.json);
#   - the base: NODE_IMAGE. Pin it by digest (node:22-bookworm-slim@sha256:...)
#     where the registry is reachable;
#   - Debian's python3 (3.11) and ca-certificates are NOT pinned: Debian keeps
#     one version per suite and replaces it on a point release or a security
#     update, so an exact pin breaks the build the day it is superseded. They
#     come from the base's bookworm suites at build time; pip in the build
#     stage is the one Debian's python3-venv ships.

# @anthropic-ai/claude-code >= 2.x declares engines.node ">=22.0.0".
ARG NODE_IMAGE=node:22-bookworm-slim
# Which agent CLI the image installs: claude-code | codex | gemini-cli.
ARG AGENT=claude-code

# --------------------------------------------------------------------------
# base: the Node image + Debian's Python 3.11 (runtime only, no venv/pip).
# ca-certificates is for TLS to the platform and the LLM provider.
# --------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 \
 && rm -rf /var/lib/apt/lists/*

# --------------------------------------------------------------------------
# launcher-build: the launcher and its locked dependencies in a venv at
# /opt/launcher; pip and setuptools are removed from it afterwards. This
# stage's build tooling (python3-venv, ensurepip's wheels) stays here.
# --------------------------------------------------------------------------
FROM base AS launcher-build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
# A CA bundle path for pip behind a TLS-intercepting proxy, a PyPI mirror (see the top).
ARG PIP_CERT
ARG PIP_INDEX_URL
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
WORKDIR /src
# The locked dependencies first: their layer survives edits to the sources
# (README.md is the package's long description, so it is one of them).
COPY docker/requirements.lock docker/build-constraints.txt ./docker/
RUN python3 -m venv /opt/launcher \
 && /opt/launcher/bin/pip install --no-cache-dir --no-deps --require-hashes -r docker/requirements.lock
COPY pyproject.toml README.md ./
COPY launcher/ ./launcher/
RUN PIP_CONSTRAINT=/src/docker/build-constraints.txt \
        /opt/launcher/bin/pip install --no-cache-dir --no-deps /src \
 && /opt/launcher/bin/python -m pip uninstall --yes --quiet pip setuptools \
 && rm -f /opt/launcher/bin/activate /opt/launcher/bin/activate.* /opt/launcher/bin/Activate.ps1

# --------------------------------------------------------------------------
# runtime: the agent CLI, the launcher, the unprivileged user.
# --------------------------------------------------------------------------
FROM base AS runtime
ARG AGENT
# Pinned releases; claude-code is kept in sync with e2e/package.json.
ARG CLAUDE_CODE_VERSION=2.1.332
ARG CODEX_VERSION=0.171.0
ARG GEMINI_CLI_VERSION=0.61.0
# A CA bundle path for npm behind a TLS-intercepting proxy, an npm mirror (see the top).
ARG NODE_EXTRA_CA_CERTS
ARG NPM_CONFIG_REGISTRY

# The real agent from npm. claude-code's and codex's postinstall link the
# native binary from the matching platform optionalDependency, so optional
# dependencies must NOT be omitted. npm's logs and Node's compile cache are
# build leftovers. (DL3016: the version is pinned in each case arm.)
# hadolint ignore=DL3016
RUN case "${AGENT}" in \
        claude-code) pkg="@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" ;; \
        codex) pkg="@openai/codex@${CODEX_VERSION}" ;; \
        gemini-cli) pkg="@google/gemini-cli@${GEMINI_CLI_VERSION}" ;; \
        *) echo "AGENT must be claude-code, codex or gemini-cli, not '${AGENT}'" >&2; exit 64 ;; \
    esac \
 && npm install --global --no-fund --no-audit --no-update-notifier "${pkg}" \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/node-compile-cache

COPY --from=launcher-build /opt/launcher /opt/launcher

# Only the launcher's own command goes on PATH: with the venv's bin first, the
# agent's python3 would silently be the launcher's. The platform stand-in
# (agent-launcher-devserver) is on PATH only in the `demo` target.
RUN ln -s /opt/launcher/bin/agent-launcher /usr/local/bin/ \
 && useradd -l --uid 10001 --user-group --create-home --home-dir /home/agent \
        --shell /bin/bash agent \
 && mkdir -p /configs /workspace \
 && chown agent:agent /workspace

# Non-secret configuration only. The token path defaults to
# $CONFIGS_DIR/.auth_token; it is mounted at run time, never set here.
# LANG=C.UTF-8: without a locale Python coerces one and adds LC_CTYPE to the
# environment the agent inherits.
ENV HOME=/home/agent \
    CONFIGS_DIR=/configs \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DISABLE_AUTOUPDATER=1

# Unprivileged user (numeric uid so Kubernetes' runAsNonRoot can verify it).
USER 10001:10001
WORKDIR /workspace

# No HEALTHCHECK: the launcher does not stay resident (it execs the agent,
# which is an interactive/CLI process with no endpoint to probe), so there is
# nothing meaningful to check; liveness is the process itself.
HEALTHCHECK NONE

ENTRYPOINT ["agent-launcher", "exec", "--"]

# One small stage per agent: only the default command differs.
FROM runtime AS agent-claude-code
CMD ["claude"]

FROM runtime AS agent-codex
CMD ["codex"]

FROM runtime AS agent-gemini-cli
CMD ["gemini"]

# --------------------------------------------------------------------------
# demo: the production image plus the platform stand-in on PATH, for
# examples/compose.yaml and local experiments. Never deploy it.
# --------------------------------------------------------------------------
# agent-${AGENT} names a stage above, not an image to tag (DL3006).
# hadolint ignore=DL3006
FROM agent-${AGENT} AS demo
USER 0:0
RUN ln -s /opt/launcher/bin/agent-launcher-devserver /usr/local/bin/
USER 10001:10001

# --------------------------------------------------------------------------
# production (the default target): the chosen agent.
# --------------------------------------------------------------------------
# hadolint ignore=DL3006
FROM agent-${AGENT} AS production
ARG AGENT
LABEL org.opencontainers.image.title="agent-launcher" \
      org.agent-launcher.agent="${AGENT}"
USER 10001:10001
