#!/usr/bin/env bash
# Makes the two base images docker/Dockerfile starts from, without a container registry (the
# offline path of docker/README.md), and tags them with the official names:
#
#   rust:1-bookworm                          Debian bookworm (debootstrap, from the apt mirror this
#                                            machine uses) with gcc and this machine's own Rust
#                                            toolchain (`rustc --print sysroot`) in /usr/local/rust
#   gcr.io/distroless/static-debian12:nonroot  what distroless's static image has that iotemu
#                                            needs (its binary is static): the CA bundle,
#                                            /etc/passwd with nonroot (65532), nsswitch.conf,
#                                            /tmp; user 65532
#
# An image that is already there is kept (FORCE=1 makes both again). Needs root (debootstrap,
# docker). DEBIAN_MIRROR overrides the mirror found in /etc/apt/sources.list*.
set -euo pipefail
cd "$(dirname "$0")/.."

RUST_IMAGE=${RUST_IMAGE:-rust:1-bookworm}
RUNTIME_IMAGE=${RUNTIME_IMAGE:-gcr.io/distroless/static-debian12:nonroot}
SUITE=bookworm

have_image() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
if have_image "$RUST_IMAGE" && have_image "$RUNTIME_IMAGE"; then
  echo "base images already there: $RUST_IMAGE, $RUNTIME_IMAGE" >&2
  exit 0
fi

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "installing debootstrap" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# The Debian mirror apt already uses (deb822 `URIs:` or one-line `deb URL suite ...`).
mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local found
  found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ { print $2 } /^deb / { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' |
    grep -E '/debian/?$' | head -n1 || true)
  echo "${found:-http://deb.debian.org/debian}"
}

work=$(mktemp -d /tmp/iotemu-base.XXXXXX)
trap 'as_root rm -rf "$work"' EXIT
rootfs="$work/rootfs"
echo "debootstrap $SUITE from $(mirror) (about a minute)" >&2
as_root debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates "$SUITE" "$rootfs" "$(mirror)" \
  >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

if ! have_image "$RUST_IMAGE"; then
  sysroot=$(rustc --print sysroot)
  echo "$RUST_IMAGE: Debian $SUITE + the Rust toolchain in $sysroot ($(rustc --version))" >&2
  as_root mkdir -p "$rootfs/usr/local/rust" "$rootfs/usr/local/cargo/bin"
  # Everything but the documentation (the official image has none either).
  as_root tar -C "$sysroot" --exclude=./share/doc -cf - . | as_root tar -C "$rootfs/usr/local/rust" -xf -
  for tool in cargo rustc rustdoc; do
    as_root ln -sf "../../rust/bin/$tool" "$rootfs/usr/local/cargo/bin/$tool"
  done
  # The builder trusts what this machine trusts, so that cargo reaches crates.io through the
  # same TLS-inspecting proxy, if there is one (the runtime image keeps Debian's bundle).
  as_root cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  as_root tar -C "$rootfs" -cf - . | docker import \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'CMD ["bash"]' \
    - "$RUST_IMAGE" >/dev/null
fi

if ! have_image "$RUNTIME_IMAGE"; then
  echo "$RUNTIME_IMAGE: CA bundle, passwd with nonroot, nsswitch.conf, /tmp" >&2
  min="$work/runtime"
  as_root mkdir -p "$min"/{etc/ssl/certs,home/nonroot,root,tmp,usr/local/bin,var/lib}
  as_root cp "$rootfs/etc/ssl/certs/ca-certificates.crt" "$min/etc/ssl/certs/"
  as_root cp -L "$rootfs/etc/os-release" "$min/etc/os-release"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' |
    as_root tee "$min/etc/passwd" >/dev/null
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' | as_root tee "$min/etc/group" >/dev/null
  printf 'hosts: files dns\n' | as_root tee "$min/etc/nsswitch.conf" >/dev/null
  as_root chmod 1777 "$min/tmp"
  as_root chmod 700 "$min/root"
  as_root chown 65532:65532 "$min/home/nonroot"
  as_root tar -C "$min" --numeric-owner -cf - . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'USER 65532' \
    --change 'WORKDIR /home/nonroot' \
    - "$RUNTIME_IMAGE" >/dev/null
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($RUST_IMAGE|$RUNTIME_IMAGE) " >&2 || true
