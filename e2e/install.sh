#!/usr/bin/env bash
# Install the pinned, project-local claude-code CLI used by the e2e tests.
#
# Idempotent: runs `npm ci` only when e2e/node_modules is missing or stale
# (installed version != pinned version, or package-lock.json newer than the
# installed tree), then makes sure the native `claude` binary is in place.
#
# On success prints the absolute path of the runnable claude executable as the
# LAST line of stdout (all diagnostics go to stderr). Exits non-zero otherwise.
#
# How the binary gets there: @anthropic-ai/claude-code depends (optionally) on
# the platform package @anthropic-ai/claude-code-linux-x64, which ships the
# native ELF `claude`. The wrapper's postinstall (install.cjs) hard-links/copies
# it over the placeholder bin/claude.exe; node_modules/.bin/claude symlinks to
# that. No download happens outside npm, and nothing is fetched at run time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

log() { printf 'e2e/install.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found on PATH (needed for npm)"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH"

pinned="$(node -p 'require("./package.json").dependencies["@anthropic-ai/claude-code"]')"
wrapper="node_modules/@anthropic-ai/claude-code"
bin="$here/node_modules/.bin/claude"

installed_version() {
    node -p 'require("./'"$wrapper"'/package.json").version' 2>/dev/null || true
}

needs_ci() {
    [ -d node_modules ] || return 0
    [ -f node_modules/.package-lock.json ] || return 0
    [ package-lock.json -nt node_modules/.package-lock.json ] && return 0
    [ "$(installed_version)" = "$pinned" ] || return 0
    return 1
}

# `claude --version` prints e.g. "2.1.332 (Claude Code)".
works() {
    local out
    out="$("$1" --version 2>/dev/null)" || return 1
    case "$out" in "$pinned "*) return 0 ;; *) return 1 ;; esac
}

if needs_ci; then
    log "installing @anthropic-ai/claude-code@$pinned (npm ci)"
    npm ci --no-audit --no-fund >&2 || die "npm ci failed"
fi

if ! works "$bin"; then
    # The postinstall did not run (e.g. ignore-scripts / npm allowScripts
    # policy): run it by hand. It only links the binary from the platform
    # package; it never downloads anything.
    log "native binary not linked; running $wrapper/install.cjs"
    node "$wrapper/install.cjs" >&2 || log "install.cjs failed"
fi

if works "$bin"; then
    printf '%s\n' "$bin"
    exit 0
fi

# Last resort: the platform package's binary itself.
for cand in node_modules/@anthropic-ai/claude-code-linux-*/claude; do
    [ -x "$cand" ] || continue
    if works "$here/$cand"; then
        log "using platform binary directly: $cand"
        printf '%s\n' "$here/$cand"
        exit 0
    fi
done

die "no runnable claude $pinned found under $here/node_modules"
