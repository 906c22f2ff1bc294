# Sourced by the benchmarks that run a `castor daemon` and a mount: the
# script sets `work` (a temporary folder, removed at exit) and `mnt`, and
# keeps the daemon's and the mount's pids in `dpid` and `mpid`, so that an
# exit at any point unmounts and stops both. A script that starts more (a
# Ceph cluster) defines cleanup_more, run after them and before `work` goes.
dpid= mpid=

cleanup() {
  set +e
  [ -n "$mpid" ] && kill -TERM "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null
  mountpoint -q "$mnt" && umount -l "$mnt"
  [ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
  declare -F cleanup_more >/dev/null && cleanup_more
  rm -rf "$work"
}
trap cleanup EXIT

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
wait_mount() { for _ in $(seq 1 1500); do mountpoint -q "$1" && return 0; sleep 0.02; done; return 1; }
wait_sock() { for _ in $(seq 1 500); do [ -S "$1" ] && return 0; sleep 0.02; done; return 1; }
