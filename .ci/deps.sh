#!/usr/bin/env bash
# Makes sure every Debian package, Node.js and the npm packages that the build, the tests and the demo need are present, installing what is missing when run as root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Grouped by who needs them, so that a removal can be argued about.
BUILD_PKGS=(gcc make libc6-dev pkg-config apache2-dev libjansson-dev libcurl4-openssl-dev libssl-dev)
UNIT_PKGS=(check libsubunit-dev)
FUZZ_PKGS=(clang libclang-rt-14-dev)
COVERAGE_PKGS=(lcov)        # make coverage: gcov's data summed per directory
INTEGRATION_PKGS=(apache2 libapache2-mod-perl2 libwww-perl libio-socket-ssl-perl
                  liblwp-protocol-https-perl libhttp-daemon-perl redis-server memcached
                  openssl ca-certificates
                  python3-prometheus-client chromium)   # status page: Prometheus parser, browser
DEMO_PKGS=(curl)
# `make deb` and its check (.ci/package.sh; dh_apache2 comes with apache2-dev in BUILD_PKGS),
# git for the demo-from-a-private-clone check (.ci/demo-private.sh).
PACKAGE_PKGS=(debhelper dpkg-dev fakeroot lintian git)
BENCH_PKGS=(wrk)
# make integration-valgrind (ASan/UBSan for make integration-asan come with gcc: libasan8, libubsan1)
SANITIZER_PKGS=(valgrind)

# oidc-provider 9 calls crypto.hash(), which Node.js has from 20.12 on.
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=12

say() { printf 'deps: %s\n' "$*"; }

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

node_ok() {
    command -v node >/dev/null 2>&1 || return 1
    local version major minor
    version="$(node -p 'process.versions.node' 2>/dev/null)" || return 1
    IFS=. read -r major minor _ <<<"$version"
    (( major > NODE_MIN_MAJOR || (major == NODE_MIN_MAJOR && minor >= NODE_MIN_MINOR) ))
}

missing=()
for pkg in "${BUILD_PKGS[@]}" "${UNIT_PKGS[@]}" "${FUZZ_PKGS[@]}" "${COVERAGE_PKGS[@]}" \
           "${INTEGRATION_PKGS[@]}" \
           "${DEMO_PKGS[@]}" "${BENCH_PKGS[@]}" "${PACKAGE_PKGS[@]}" "${SANITIZER_PKGS[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

# Node.js may come from outside Debian (NodeSource, nvm); only ask Debian when there is none.
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
fi

if ((${#missing[@]})); then
    install_line="apt-get install -y --no-install-recommends ${missing[*]}"
    if [[ "$(id -u)" -ne 0 ]]; then
        say "missing Debian packages: ${missing[*]}"
        say "run as root:  apt-get update && $install_line"
        exit 1
    fi
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "all Debian packages present"
fi

if ! node_ok; then
    say "Node.js >= ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} is needed (found: $(node --version 2>/dev/null || echo none));"
    say "Debian 12's own nodejs is 18: install Node.js 20 or later (for example NodeSource's nodejs 20)."
    exit 1
fi
say "node $(node --version), npm $(npm --version)"

# npm ci only when the installed tree is absent or older than the lock file.
interop=t/interop
if [[ ! -f "$interop/node_modules/.package-lock.json" \
      || "$interop/package-lock.json" -nt "$interop/node_modules/.package-lock.json" ]]; then
    say "npm ci in $interop"
    (cd "$interop" && npm ci --no-audit --no-fund)
else
    say "$interop/node_modules up to date"
fi
