#!/usr/bin/env bash
# What `make test` needs besides the repository: the services and programs the tests run against.
# Says in one line each what is missing and how to get it, and fails, before a long build.
set -uo pipefail

missing=0
say() {
    echo "make test: $*" >&2
    missing=1
}

# host:port of a database URL (scheme://user[:password]@host:port[/…]).
address_of() {
    local rest="${1#*://}"
    rest="${rest#*@}"
    echo "${rest%%/*}"
}

answers() {
    local host="${1%:*}" port="${1##*:}"
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

postgres="$(address_of "${SLUICE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}")"
answers "$postgres" || say "PostgreSQL does not answer on $postgres: start it (docker compose -f deploy/compose.yaml up -d, or bash .ci/run on this machine) or set SLUICE_TEST_POSTGRES_URL"
mysql="$(address_of "${SLUICE_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}")"
answers "$mysql" || say "MariaDB or MySQL does not answer on $mysql: start it (docker compose -f deploy/compose.yaml up -d) or set SLUICE_TEST_MYSQL_URL"
command -v haproxy >/dev/null || say "HAProxy is missing (the rolling-deploy test's load balancer): apt-get install the versions in tests/apt-packages.txt"
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || say "libfaketime is missing (a replica with its clock ahead): apt-get install the versions in tests/apt-packages.txt"
for tool in python3 schemathesis datasette; do
    command -v "$tool" >/dev/null || say "$tool is missing from the tests' virtual environment (make test makes it from tests/requirements.txt)"
done
exit "$missing"
