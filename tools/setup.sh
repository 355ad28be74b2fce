#!/usr/bin/env bash
# Installs every Debian package meshq needs (idempotent), then configures and builds into
# build/ (or $MESHQ_BUILD_DIR). Extra arguments are passed to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  librocksdb-dev libboost1.81-dev libboost-json1.81-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format
  etcd-server etcd-client wrk fio procps
  prometheus tmux libboost-program-options1.81-dev
  libssl-dev openssl
  gnuplot-nox jq
  nats-server libnats-dev curl
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# MESHQ_SETUP_PACKAGES_ONLY=1: the packages alone (tools/test.sh, before its format check).
[[ -z ${MESHQ_SETUP_PACKAGES_ONLY:-} ]] || exit 0

BUILD_DIR=${MESHQ_BUILD_DIR:-build}
BUILD_TYPE=${MESHQ_BUILD_TYPE:-RelWithDebInfo}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
