#!/usr/bin/env bash
# The wrong-password test needs PostgreSQL to check one role's password: its rule goes first in
# pg_hba.conf (the first match wins), before the image's "trust everyone".
set -euo pipefail
sed -i '1i host all sluice_password_check all scram-sha-256' "$PGDATA/pg_hba.conf"
