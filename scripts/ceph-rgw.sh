#!/usr/bin/env bash
# A throw-away Ceph cluster serving S3 on 127.0.0.1, for tests and benchmarks:
# one monitor, one OSD keeping its data in RAM (memstore), no manager, and
# radosgw. Every file it uses lives in DIR; /etc/ceph, /var/lib/ceph and
# systemd are never touched. Needs Debian's ceph-mon ceph-osd radosgw
# ceph-common (scripts/setup.sh installs them).
#
#   ceph-rgw.sh start DIR [PORT] [--watch PID|parent]
#       Starts a fresh, empty cluster (whatever DIR held is wiped). PORT is
#       radosgw's; 0 or none picks free ports. When ready (a bucket was
#       created, written, read and removed) it writes DIR/s3.env
#       (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION and the AWS_*
#       equivalents) and prints it. --watch PID stops and removes everything
#       once process PID is gone ("parent": this script's parent), so a
#       crashed test run leaves nothing behind.
#   ceph-rgw.sh stop DIR        kills every process of the cluster, removes DIR
#   ceph-rgw.sh rgw-stop DIR    kills radosgw only (the S3 endpoint goes away)
#   ceph-rgw.sh rgw-start DIR   starts radosgw again on the same port
#
# Environment: S3_ACCESS_KEY, S3_SECRET_KEY (fixed test keys by default),
# MEMSTORE_BYTES (OSD capacity, held in RAM; default 2 GiB), START_TIMEOUT
# (seconds, default 60).
set -euo pipefail

usage() {
  echo "usage: $0 start DIR [PORT] [--watch PID|parent] | stop DIR | rgw-stop DIR | rgw-start DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
self=$(readlink -f "${BASH_SOURCE[0]}")

t0=$(date +%s%N)
say() { echo "[ceph-rgw $(( ($(date +%s%N) - t0) / 1000000 )) ms] $*" >&2; }

# pids/N-name.pid; stop goes from the highest N down.
pid_of() { cat "$dir/pids/"*"-$1.pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

stop_all() {
  [ -d "$dir" ] || return 0
  # Only ever wipe a directory this script made (or an empty one).
  if [ ! -e "$dir/s3.conf" ] && [ ! -d "$dir/pids" ] && [ -n "$(ls -A "$dir")" ]; then
    say "$dir is not a cluster directory of this script; not touching it"
    return 1
  fi
  if [ -d "$dir/pids" ]; then
    local f p
    for f in $(ls "$dir"/pids/*.pid 2>/dev/null | sort -r); do
      p=$(cat "$f" 2>/dev/null || true)
      # The watchdog runs this very function when its process goes away.
      if [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" != "$$" ]; then kill -KILL "$p" 2>/dev/null || true; fi
    done
    for f in "$dir"/pids/*.pid; do
      [ -e "$f" ] || continue
      p=$(cat "$f" 2>/dev/null || true)
      [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" != "$$" ] || continue
      for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
    done
  fi
  rm -rf "$dir"
}

# Free: no socket at all on it (a listener, or the local end of a connection).
port_free() {
  if command -v ss >/dev/null; then
    [ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# N name command...: runs a daemon in its own session, records its pid.
launch() {
  local n=$1 name=$2
  shift 2
  setsid "$@" -f </dev/null >>"$dir/log/$name.out" 2>&1 &
  echo $! >"$dir/pids/$n-$name.pid"
}

start_rgw() {
  launch 3 rgw radosgw -c "$dir/ceph.conf" -n client.rgw.gw
  local endpoint deadline code
  endpoint=$(sed -n 's/^S3_ENDPOINT=//p' "$dir/s3.conf")
  deadline=$(( $(date +%s) + ${START_TIMEOUT:-60} ))
  until code=$(curl -s -o /dev/null -w '%{http_code}' "$endpoint/") && [ "$code" = 200 ]; do
    alive rgw || { say "radosgw died (port ${endpoint##*:} taken?)"; return 3; }
    [ "$(date +%s)" -lt "$deadline" ] || { say "radosgw does not answer on $endpoint"; return 1; }
    sleep 0.05
  done
}

start() {
  local port=${1:-0} watch=${2:-}
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool uuidgen curl; do
    command -v "$b" >/dev/null || { say "missing $b: run scripts/setup.sh"; return 1; }
  done
  stop_all
  mkdir -p "$dir"/{mon,osd,rgw,run,log,pids,crash}
  dir=$(cd "$dir" && pwd)

  # radosgw's port, and two for the monitor (msgr v2 and v1). Picked below
  # Linux's ephemeral range (32768 up), so no outgoing connection holds them.
  local mon_port
  if [ "$port" = 0 ]; then
    for _ in $(seq 50); do
      port=$(( 10000 + RANDOM % 11000 ))
      mon_port=$(( port + 11000 ))
      port_free "$port" && port_free "$mon_port" && port_free $((mon_port + 1)) && break
    done
  elif [ "$port" -lt 50000 ]; then
    mon_port=$(( port + 11000 ))
  else
    mon_port=$(( port - 11000 ))
  fi
  for p in "$port" "$mon_port" $((mon_port + 1)); do
    port_free "$p" || { say "port $p on 127.0.0.1 is in use"; return 1; }
  done

  local access=${S3_ACCESS_KEY:-CASTORTESTACCESSKEY1}
  local secret=${S3_SECRET_KEY:-castor-test-secret-key-0000000000000000001}
  local fsid; fsid=$(uuidgen)
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port,v1:127.0.0.1:$((mon_port + 1))]
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
crash dir = $dir/crash
mon cluster log file = $dir/log/cluster.log
log to stderr = false
err to stderr = true
# a single OSD: one replica, few placement groups, no health nagging
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
auth allow insecure global id reclaim = false
mon data avail warn = 2
mon data avail crit = 1
# start-up makes ~15 map changes; the default 1 s paxos batching would add ~15 s
paxos propose interval = 0.01
paxos min wait = 0.001

[mon.a]
mon data = $dir/mon
# a taken port: fail at once (start picks others) instead of retrying for 15 s
ms bind retry count = 1

[osd.0]
osd data = $dir/osd
keyring = $dir/osd/keyring
osd objectstore = memstore
memstore device bytes = ${MEMSTORE_BYTES:-2147483648}
osd op num shards = 2
osd op num threads per shard = 1
# a killed radosgw leaves watches behind, and every bucket create or delete
# waits for them to expire (30 s by default): rgw-stop must not cost that
osd client watch timeout = 5

[client]
# the first radosgw-admin call races the OSD's boot; retry it quickly
objecter tick interval = 0.2

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
rgw enable usage log = false
rgw thread pool size = 64
# free the tails of deleted objects after a minute (memstore keeps them in RAM)
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF
  printf 'S3_ENDPOINT=http://127.0.0.1:%s\n' "$port" >"$dir/s3.conf"

  # Keys for the monitor, the admin and radosgw; the monitor's mkfs imports them.
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.rgw.gw --cap mon 'allow rw' --cap osd 'allow rwx' \
    --cap mgr 'allow rw' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port,v1:127.0.0.1:$((mon_port + 1))]" \
    "$dir/monmap" >/dev/null
  ceph-mon -c "$dir/ceph.conf" -i a --mkfs --monmap "$dir/monmap" --keyring "$dir/keyring" \
    >"$dir/log/mon-mkfs.out" 2>&1 || { say "ceph-mon --mkfs failed: $(cat "$dir/log/mon-mkfs.out")"; return 1; }
  # The OSD's mkfs needs no monitor (the fsid comes from the conf).
  local osd_uuid osd_key
  osd_uuid=$(uuidgen)
  osd_key=$(ceph-authtool --gen-print-key)
  ceph-osd -c "$dir/ceph.conf" -i 0 --no-mon-config --mkfs --key "$osd_key" --osd-uuid "$osd_uuid" \
    >"$dir/log/osd-mkfs.out" 2>&1 || { say "ceph-osd --mkfs failed: $(tail -3 "$dir/log/osd-mkfs.out")"; return 1; }
  printf '[osd.0]\n\tkey = %s\n' "$osd_key" >"$dir/osd/keyring"

  launch 1 mon ceph-mon -c "$dir/ceph.conf" -i a
  local deadline=$(( $(date +%s) + ${START_TIMEOUT:-60} ))
  while port_free "$mon_port"; do
    alive mon || { say "ceph-mon died (port $mon_port taken?)"; return 3; }
    [ "$(date +%s)" -lt "$deadline" ] || { say "ceph-mon does not listen on $mon_port"; return 1; }
    sleep 0.02
  done
  if [ -n "$watch" ]; then
    # Detached from our session, so killing the caller's process group spares it.
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; exec "$2" stop "$3"' \
      watchdog "$watch" "$self" "$dir" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/pids/0-watchdog.pid"
  fi
  echo "{\"cephx_secret\": \"$osd_key\"}" >"$dir/osd/new.json"
  ceph -c "$dir/ceph.conf" --connect-timeout 30 osd new "$osd_uuid" 0 -i "$dir/osd/new.json" \
    >/dev/null 2>"$dir/log/osd-new.err" || { say "ceph osd new failed: $(cat "$dir/log/osd-new.err")"; return 1; }
  launch 2 osd ceph-osd -c "$dir/ceph.conf" -i 0

  # Creating the S3 user also creates the realm, zone and first pools, so it
  # returns only once the OSD is up and its placement groups are active.
  timeout "${START_TIMEOUT:-60}" radosgw-admin -c "$dir/ceph.conf" -n client.admin user create \
    --uid=castor-test --display-name="castor tests" --access-key="$access" --secret-key="$secret" \
    >"$dir/log/user-create.out" 2>&1 || { say "radosgw-admin user create failed: $(tail -3 "$dir/log/user-create.out")"; return 1; }
  start_rgw || return 1

  # Readiness proof: bucket, object, range read, cleanup (this also creates
  # the data pools, so the caller's first requests are not the slow ones).
  local endpoint="http://127.0.0.1:$port" bucket="ready-$$-$RANDOM"
  s3() {
    curl -sS -o "$dir/log/ready.body" -w '%{http_code}' --aws-sigv4 "aws:amz:default:s3" \
      --user "$access:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
  }
  [ "$(s3 -X PUT "$endpoint/$bucket")" = 200 ] || { say "creating a bucket failed: $(cat "$dir/log/ready.body")"; return 1; }
  [ "$(s3 -X PUT --data-binary 'castor readiness probe' "$endpoint/$bucket/probe")" = 200 ] \
    || { say "PUT failed: $(cat "$dir/log/ready.body")"; return 1; }
  [ "$(s3 -H 'Range: bytes=7-15' "$endpoint/$bucket/probe")" = 206 ] && [ "$(cat "$dir/log/ready.body")" = "readiness" ] \
    || { say "ranged GET failed: $(cat "$dir/log/ready.body")"; return 1; }
  s3 -X DELETE "$endpoint/$bucket/probe" >/dev/null
  s3 -X DELETE "$endpoint/$bucket" >/dev/null

  cat >"$dir/s3.env" <<EOF
S3_ENDPOINT=$endpoint
S3_ACCESS_KEY=$access
S3_SECRET_KEY=$secret
S3_REGION=default
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_DEFAULT_REGION=default
CEPH_CONF=$dir/ceph.conf
EOF
  say "ready at $endpoint (DIR $dir)"
  cat "$dir/s3.env"
}

case $cmd in
  start)
    port=0 watch=
    while [ $# -gt 0 ]; do
      case $1 in
        --watch) [ $# -ge 2 ] || usage; watch=$2; [ "$watch" = parent ] && watch=$PPID; shift 2 ;;
        [0-9]*) port=$1; shift ;;
        *) usage ;;
      esac
    done
    # Never leave half a cluster behind.
    for try in 1 2 3; do
      rc=0
      start "$port" "$watch" || rc=$?
      [ $rc = 0 ] && exit 0
      # A port taken between the check and the bind: pick others.
      if [ $rc = 3 ] && [ "$port" = 0 ] && [ $try -lt 3 ]; then
        say "retrying with other ports"
        stop_all
        continue
      fi
      for f in "$dir"/log/*; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 8 "$f" >&2; }; done
      say "start failed"
      stop_all
      exit 1
    done
    ;;
  stop) stop_all ;;
  rgw-stop)
    p=$(pid_of rgw)
    if [ -n "$p" ]; then
      kill -KILL "$p" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
    fi
    ;;
  rgw-start)
    [ -f "$dir/ceph.conf" ] || { say "no cluster in $dir"; exit 1; }
    alive rgw && { say "radosgw already runs"; exit 1; }
    rm -f "$dir"/pids/*-rgw.pid
    start_rgw || exit 1
    ;;
  *) usage ;;
esac
