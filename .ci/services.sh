#!/usr/bin/env bash
# Start (or wait for) the local PostgreSQL and MariaDB servers the integration tests use.
set -uo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start 2>/dev/null || true
fi
if ! mariadb-admin -uroot ping >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd 2>/dev/null || true
fi
for _ in $(seq 1 30); do
  pg_ok=0; my_ok=0
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && pg_ok=1
  mariadb-admin -uroot ping >/dev/null 2>&1 && my_ok=1
  [ "$pg_ok$my_ok" = "11" ] && break
  sleep 1
done
echo "services: postgres=$pg_ok mariadb=$my_ok"
