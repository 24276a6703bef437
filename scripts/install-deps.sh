#!/usr/bin/env bash
# install-deps.sh — installs the Debian 12 packages dfit needs to build and
# test, and only those that are missing (so it is quick on a ready machine).
# Runs apt-get update only when the package lists are empty or an install
# fails for want of them. Uses sudo only when not run as root.
# Non-goals: other distributions, CUDA (the CUDA backend is built only when
# nvcc is already installed).
set -euo pipefail

PACKAGES=(
    build-essential meson ninja-build pkg-config git
    libsqlite3-dev libcsv-dev libinih-dev libpapi-dev libcmocka-dev libssl-dev
    gnuplot-nox
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: apt-get not found; install these packages yourself: ${missing[*]}" >&2
    exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: not root and sudo is not installed; as root run:" >&2
        echo "  apt-get install ${missing[*]}" >&2
        exit 1
    fi
    SUDO=(sudo)
fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

echo "install-deps: installing ${missing[*]}"
lists_empty=1
for f in /var/lib/apt/lists/*_Packages /var/lib/apt/lists/*_Packages.*; do
    [[ -e "$f" ]] && { lists_empty=0; break; }
done
if [[ $lists_empty -eq 1 ]]; then
    "${APT[@]}" update
fi
if ! "${APT[@]}" install --no-install-recommends "${missing[@]}"; then
    echo "install-deps: install failed; refreshing package lists and retrying" >&2
    "${APT[@]}" update
    "${APT[@]}" install --no-install-recommends "${missing[@]}"
fi
