#!/usr/bin/env bash
# Installs what building and testing tinyllm needs, from Debian packages. Idempotent: only
# missing packages are installed. Extra package names may be passed as arguments.
set -euo pipefail
packages=(cmake ninja-build g++ clang-14 doctest-dev libeigen3-dev libbenchmark-dev python3 pkg-config
          libcpp-httplib-dev nlohmann-json3-dev chromium python3-pytest "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
