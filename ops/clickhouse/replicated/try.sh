#!/usr/bin/env bash
# Replication on one machine, as it was tried for docs/operations/clickhouse.md: one ZooKeeper (Debian's
# `zookeeper`) and two ClickHouse 18.16 replicas of one shard on loopback, in a temporary directory. It creates a
# ReplicatedReplacingMergeTree table shaped like OpenUA's (version and deleted columns, read with FINAL), writes on
# both replicas, kills one with SIGKILL, writes while it is down, restarts it, and checks that both answer the same.
# Everything it started is stopped, and the directory removed, when it ends.
set -euo pipefail
work="$(mktemp -d /tmp/openua-replication-XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || { echo "needs Debian's zookeeper: apt-get install zookeeper"; exit 1; }

mkdir -p "$work/zk"
sed -e "s|/var/lib/openua-zookeeper|$work/zk|" -e 's|clientPort=2181|clientPort=12181|' \
  "$(dirname "$0")/zoo.cfg" >"$work/zoo.cfg"
ZOO_LOG_DIR="$work" /usr/share/zookeeper/bin/zkServer.sh start-foreground "$work/zoo.cfg" >"$work/zk.log" 2>&1 &
pids+=($!)

start_replica() {
  local i=$1
  mkdir -p "$work/r$i"
  cat >"$work/r$i.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>$((18130 + i))</http_port><tcp_port>$((19030 + i))</tcp_port>
  <interserver_http_port>$((19040 + i))</interserver_http_port><interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <path>$work/r$i/</path><tmp_path>$work/r$i/tmp/</tmp_path>
  <user_files_path>$work/r$i/user_files/</user_files_path><format_schema_path>$work/r$i/fs/</format_schema_path>
  <users_config>$(cd "$(dirname "$0")/.." && pwd)/node/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone><mark_cache_size>5368709</mark_cache_size>
  <zookeeper><node><host>127.0.0.1</host><port>12181</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>
  <macros><shard>01</shard><replica>replica-$i</replica></macros>
</yandex>
XML
  /usr/sbin/clickhouse-server --config-file="$work/r$i.xml" >"$work/r$i.log" 2>&1 &
  pids+=($!)
  eval "replica_$i=$!"
}
q() { curl -sS --fail-with-body "http://127.0.0.1:$((18130 + $1))/" --data-binary "$2"; }
wait_for() { for _ in $(seq 1 100); do q "$1" 'SELECT 1' >/dev/null 2>&1 && return; sleep 0.2; done; echo "replica $1 did not start"; exit 1; }

start_replica 1; start_replica 2; wait_for 1; wait_for 2
# The replicated tables need ZooKeeper answering, which takes the JVM a few seconds.
for _ in $(seq 1 100); do q 1 "SELECT count() FROM system.zookeeper WHERE path = '/'" >/dev/null 2>&1 && break; sleep 0.3; done
for i in 1 2; do
  q $i "CREATE DATABASE IF NOT EXISTS openua"
  q $i "CREATE TABLE openua.events (org String, id String, v Nullable(String), derived_time Int64, _version UInt64, _deleted UInt8)
        ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/openua/events', '{replica}', _version)
        PARTITION BY toYYYYMM(toDateTime(intDiv(derived_time, 1000000))) ORDER BY (org, id)"
done
q 1 "INSERT INTO openua.events VALUES ('o','1','a',1780000000000000,1,0),('o','2','b',1780000000000000,1,0)"
q 1 "INSERT INTO openua.events VALUES ('o','1','a changed',1780000000000000,2,0)"
q 2 "INSERT INTO openua.events VALUES ('o','2','b',1780000000000000,3,1)"
# shellcheck disable=SC2154
kill -9 "$replica_1"
q 2 "INSERT INTO openua.events VALUES ('o','3','written while replica 1 was down',1780000000000000,1,0)"
start_replica 1; wait_for 1
read_live='SELECT id, v FROM openua.events FINAL WHERE _deleted = 0 ORDER BY id FORMAT TSV'
expected=$'1\ta changed\n3\twritten while replica 1 was down'
# A killed replica takes up its place again once ZooKeeper has ended its old session (session_timeout_ms).
for _ in $(seq 1 60); do
  [ "$(q 1 "$read_live")" = "$expected" ] && [ "$(q 2 "$read_live")" = "$expected" ] && { echo "replication: ok"; exit 0; }
  sleep 1
done
echo "replication: the replicas disagree"; q 1 "$read_live"; q 2 "$read_live"; exit 1
