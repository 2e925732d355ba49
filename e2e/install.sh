#!/usr/bin/env bash
# Install the pinned, project-local agent CLIs used by the e2e tests and print
# the path of one of them.
#
#   e2e/install.sh [claude|codex|gemini]     (default: claude)
#
# Idempotent: runs `npm ci` only when e2e/node_modules is missing or stale
# (an installed version != its pinned version, or package-lock.json newer than
# the installed tree), then makes sure the named CLI runs and reports its
# pinned version.
#
# On success prints the absolute path of the runnable executable as the LAST
# line of stdout (all diagnostics go to stderr). Exits non-zero otherwise.
#
# How each executable gets there (no download happens outside npm, and nothing
# is fetched at run time):
# - claude (@anthropic-ai/claude-code): depends (optionally) on the platform
#   package @anthropic-ai/claude-code-linux-x64, which ships the native ELF
#   `claude`. The wrapper's postinstall (install.cjs) hard-links/copies it over
#   the placeholder bin/claude.exe; node_modules/.bin/claude symlinks to that.
# - codex (@openai/codex): node_modules/.bin/codex is a node wrapper
#   (bin/codex.js) that resolves the platform package @openai/codex-linux-x64
#   (an npm alias of @openai/codex@VERSION-linux-x64, an optional dependency)
#   and runs vendor/<target triple>/bin/codex from it, a static musl binary.
#   We print that native binary, as the wrapper would run it: the launcher
#   then execs codex itself, with no node process in between.
# - gemini (@google/gemini-cli): plain node (bundle/gemini.js, `#!/usr/bin/env
#   node`); node_modules/.bin/gemini symlinks to it. Needs node >= 20 on PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

log() { printf 'e2e/install.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

agent="${1:-claude}"
case "$agent" in
    claude) package="@anthropic-ai/claude-code" ;;
    codex) package="@openai/codex" ;;
    gemini) package="@google/gemini-cli" ;;
    *) die "unknown CLI '$agent' (expected claude, codex or gemini)" ;;
esac

command -v node >/dev/null 2>&1 || die "node not found on PATH (needed for npm)"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH"

# Every package pinned in package.json, as "name version" lines.
pins() {
    node -e 'const d = require("./package.json").dependencies; for (const [n, v] of Object.entries(d)) console.log(n + " " + v)'
}

pinned_version() {
    node -p 'require("./package.json").dependencies[process.argv[1]]' "$1"
}

installed_version() {
    node -p 'require("./node_modules/" + process.argv[1] + "/package.json").version' "$1" 2>/dev/null || true
}

needs_ci() {
    [ -d node_modules ] || return 0
    [ -f node_modules/.package-lock.json ] || return 0
    [ package-lock.json -nt node_modules/.package-lock.json ] && return 0
    local name version
    while read -r name version; do
        [ "$(installed_version "$name")" = "$version" ] || return 0
    done < <(pins)
    return 1
}

pinned="$(pinned_version "$package")"

# `claude --version` prints "2.1.332 (Claude Code)", `codex --version`
# "codex-cli 0.171.0", `gemini --version` "0.61.0".
works() {
    local out
    out="$("$1" --version 2>/dev/null)" || return 1
    case "$out" in
        "$pinned" | "$pinned "* | *" $pinned") return 0 ;;
        *) return 1 ;;
    esac
}

found() {
    printf '%s\n' "$1"
    exit 0
}

if needs_ci; then
    log "installing the pinned CLIs (npm ci): $(pins | tr '\n' ' ')"
    npm ci --no-audit --no-fund >&2 || die "npm ci failed"
fi

case "$agent" in
    claude)
        bin="$here/node_modules/.bin/claude"
        works "$bin" && found "$bin"
        # The postinstall did not run (e.g. ignore-scripts / npm allowScripts
        # policy): run it by hand. It only links the binary from the platform
        # package; it never downloads anything.
        log "native binary not linked; running node_modules/$package/install.cjs"
        node "node_modules/$package/install.cjs" >&2 || log "install.cjs failed"
        works "$bin" && found "$bin"
        # Last resort: the platform package's binary itself.
        for cand in node_modules/@anthropic-ai/claude-code-linux-*/claude; do
            [ -x "$cand" ] || continue
            if works "$here/$cand"; then
                log "using platform binary directly: $cand"
                found "$here/$cand"
            fi
        done
        ;;
    codex)
        # The native binary, resolved the way bin/codex.js resolves it.
        case "$(uname -m)" in
            x86_64 | amd64) platform_pkg="codex-linux-x64" triple="x86_64-unknown-linux-musl" ;;
            aarch64 | arm64) platform_pkg="codex-linux-arm64" triple="aarch64-unknown-linux-musl" ;;
            *) die "no codex platform package for $(uname -m)" ;;
        esac
        bin="$here/node_modules/@openai/$platform_pkg/vendor/$triple/bin/codex"
        works "$bin" && found "$bin"
        # The node wrapper (finds the binary by its own rules).
        bin="$here/node_modules/.bin/codex"
        works "$bin" && found "$bin"
        ;;
    gemini)
        bin="$here/node_modules/.bin/gemini"
        works "$bin" && found "$bin"
        ;;
esac

die "no runnable $agent $pinned found under $here/node_modules"
