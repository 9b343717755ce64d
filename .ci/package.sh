#!/usr/bin/env bash
# CI: checks `make install DESTDIR=...`, builds the Debian package (`make deb`, lintian), installs it on this machine's own Apache with apt-get, checks that Apache loads it, then purges it and checks that nothing of it is left.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PKG=libapache2-mod-auth0gw
MODDIR=/usr/lib/apache2/modules
CONFDIR=/etc/apache2

say() { printf 'package: %s\n' "$*"; }
die() {
    printf 'package: FAILED: %s\n' "$*" >&2
    exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "installing the package needs root (run .ci/package.sh as root)"
installed() { [[ "$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null || true)" == "install ok installed" ]]; }
known() { dpkg-query -W -f='${Status}' "$PKG" >/dev/null 2>&1 && [[ "$(dpkg-query -W -f='${Status}' "$PKG")" != *not-installed ]]; }
# This script installs and purges the package: it must not take away one an administrator put there.
known && die "$PKG is already on this machine ($(dpkg-query -W -f='${Status}' "$PKG")); not touching it"

VERSION="$(sed -n 's/^#define AGW_VERSION "\(.*\)"$/\1/p' src/agw_version.h)"
[[ -n "$VERSION" ]] || die "no AGW_VERSION in src/agw_version.h"
DEB="build/deb/${PKG}_${VERSION}_$(dpkg-architecture -qDEB_HOST_ARCH).deb"

# ---- make install into a staging root ---------------------------------------------------------
stage="$(mktemp -d -t agw-install.XXXXXX)"
purge_on_exit=0
cleanup() {
    local rc=$?
    rm -rf "$stage"
    if ((purge_on_exit)); then
        say "purging $PKG after a failure"
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG" >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT

make install DESTDIR="$stage" >/dev/null
[[ -f "$stage$MODDIR/mod_auth0gw.so" ]] || die "make install DESTDIR: no $MODDIR/mod_auth0gw.so in the staging root"
[[ "$(cat "$stage$CONFDIR/mods-available/auth0gw.load")" == "LoadModule auth0gw_module $MODDIR/mod_auth0gw.so" ]] \
    || die "make install DESTDIR: mods-available/auth0gw.load is not the LoadModule line"
if grep -qv '^#' "$stage$CONFDIR/mods-available/auth0gw.conf"; then
    die "make install DESTDIR: auth0gw.conf has a line that is not commented out"
fi
[[ ! -e "$CONFDIR/mods-available/auth0gw.load" ]] || die "make install DESTDIR wrote outside DESTDIR"
say "make install DESTDIR=...: module, auth0gw.load and a commented auth0gw.conf in the staging root"

# ---- make deb (lintian fails it on errors) ----------------------------------------------------
make deb
[[ -f "$DEB" ]] || die "make deb did not make $DEB"
[[ "$(dpkg-deb -f "$DEB" Version)" == "$VERSION" ]] || die "the package's version is not $VERSION"
depends="$(dpkg-deb -f "$DEB" Depends)"
for dep in libjansson4 libcurl4 libssl3 apache2-api-20120211; do
    [[ "$depends" == *"$dep"* ]] || die "Depends lacks $dep: $depends"
done
say "$DEB: version $VERSION, Depends: $depends"
dpkg-deb -c "$DEB"

# ---- apt-get install on this machine's Apache ---------------------------------------------------
purge_on_exit=1
# The system's apache2 service is left as it is (CI does not start it); configtest suffices.
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$DEB"
installed || die "$PKG is not installed after apt-get install"
[[ -f "$MODDIR/mod_auth0gw.so" ]] || die "no $MODDIR/mod_auth0gw.so after install"
[[ -L "$CONFDIR/mods-enabled/auth0gw.load" ]] || die "auth0gw is not enabled after install (no mods-enabled/auth0gw.load)"
modules="$(apache2ctl -M 2>&1)" || { printf '%s\n' "$modules" >&2; die "apache2ctl -M failed"; }
grep -E '^ *auth0gw_module \(shared\)' <<<"$modules" || die "apache2ctl -M does not list auth0gw_module"
apache2ctl configtest 2>&1 || die "apache2ctl configtest fails with the package installed"
say "installed: apache2ctl -M lists auth0gw_module, configtest passes"

# ---- apt-get purge: nothing left ---------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG"
purge_on_exit=0
known && die "$PKG is still known to dpkg after purge ($(dpkg-query -W -f='${Status}' "$PKG"))"
left=()
for path in "$MODDIR/mod_auth0gw.so" "$CONFDIR"/mods-available/auth0gw.* "$CONFDIR"/mods-enabled/auth0gw.* \
            /usr/share/doc/$PKG /var/lib/apache2/module/enabled_by_maint/auth0gw \
            /var/lib/apache2/module/enabled_by_admin/auth0gw; do
    [[ -e "$path" || -L "$path" ]] && left+=("$path")
done
((${#left[@]} == 0)) || die "left after purge: ${left[*]}"
apache2ctl configtest 2>&1 || die "apache2ctl configtest fails after the purge"
say "purged: no module, .load, .conf, symlink or state of auth0gw left; configtest passes"
