#!/usr/bin/env bash
# Installs the real peers the test suite drives (Postfix, miltertest, an unpacked Sendmail) and the
# Debian packaging tools from Debian's packages. Idempotent: a second run only checks. Needs root
# (CI runs as root).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
# Debian's postfix and sendmail conflict: installing Postfix would remove a Sendmail that runs this
# host's mail. The suite never needs an installed Sendmail (it unpacks its own, below), so refuse.
if ! command -v postconf >/dev/null 2>&1 && dpkg-query -W -f='${Status}' sendmail-bin 2>/dev/null | grep -q 'ok installed'; then
  echo "install-test-deps: Sendmail (sendmail-bin) is installed here, and installing Postfix would remove it." >&2
  echo "install-test-deps: run the test suite on a machine or container without Sendmail; nothing was changed." >&2
  exit 1
fi
command -v postconf >/dev/null 2>&1 || need+=(postfix)
command -v miltertest >/dev/null 2>&1 || need+=(miltertest)
command -v m4 >/dev/null 2>&1 || need+=(m4)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# Private redis-server instances and a 3-primary Cluster for the Redis store's tests (redis-tools comes along: redis-cli).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# Fault tests (issue 19): a Sentinel-managed failover between two private redis-servers, and the
# service run under libfaketime with its clock stepped back and forward while mail flows.
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v openssl >/dev/null 2>&1 || need+=(openssl)   # a throw-away CA for the rediss:// test
# Postfix's lmdb and cdb map plugins: the recipient map is tested with every compiled map type.
dpkg -s postfix-lmdb >/dev/null 2>&1 || need+=(postfix-lmdb)
dpkg -s postfix-cdb >/dev/null 2>&1 || need+=(postfix-cdb)
# The Debian package: build (packaging/build-deb.sh), lintian, systemd-analyze verify, and python3
# to receive the service's sd_notify datagrams in tests (Node has no unix datagram sockets).
command -v dh >/dev/null 2>&1 || need+=(debhelper)
command -v dpkg-buildpackage >/dev/null 2>&1 || need+=(dpkg-dev)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v python3 >/dev/null 2>&1 || need+=(python3-minimal)
# The soak test's load generator (bench/milter-load/*.c) is compiled on the spot.
command -v gcc >/dev/null 2>&1 || need+=(gcc)
dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev)
# Operations (issue 15): promtool checks the /metrics text, headless Chromium (driven by
# playwright-core, never a downloaded browser) loads the status page, fail2ban-regex runs the
# shipped filter over real log lines.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v fail2ban-regex >/dev/null 2>&1 || need+=(fail2ban)
# The tracking log's PostgreSQL store (issue 16) runs against private clusters the tests initdb and
# stop themselves (test/support/postgres-rig.ts): only the server's binaries are needed, so Debian's
# package is told not to create and start its own "main" cluster on port 5432.
if ! dpkg -s postgresql >/dev/null 2>&1; then
  need+=(postgresql)
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' | $SUDO tee /etc/postgresql-common/createcluster.d/floodgate-tests.conf >/dev/null
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${need[*]}"
  # "No configuration" leaves /etc/postfix/main.cf absent: the tests run private instances only.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# sendmail-bin conflicts with postfix, so it is unpacked (never installed) into .test-deps/sendmail.
sm="$here/.test-deps/sendmail"
if [ ! -x "$sm/usr/libexec/sendmail/sendmail" ]; then
  echo "install-test-deps: unpacking Sendmail into $sm"
  tmp=$(mktemp -d)
  (cd "$tmp" && chmod 777 "$tmp" && apt-get download sendmail-bin sendmail-base sendmail-cf libwrap0 >/dev/null)
  mkdir -p "$sm"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$sm"; done
  rm -rf "$tmp"
fi
# The binary is setgid mail; while the bit is set the loader ignores LD_LIBRARY_PATH, which the
# unpacked libwrap0 needs.
chmod g-s "$sm/usr/libexec/sendmail/sendmail"
echo "install-test-deps: postfix $(postconf -d mail_version 2>/dev/null | cut -d' ' -f3), miltertest, sendmail unpacked, $(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | tail -1)"
