#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Usage: scripts/test.sh            (normal build in build/)
#        scripts/test.sh --asan     (ASan + UBSan build in build-asan/)
#        scripts/test.sh --tsan     (ThreadSanitizer build in build-tsan/; the concurrent
#                                    tests only, see docs/reliability.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
# The tests that run threads against each other (ctest names are gtest names):
# FUSE workers (real mounts, in-process and through the castor binary), the
# daemon and its clients (gRPC servers/clients, caching over gRPC), parallel
# import, gc beside import, vhost-user/virtio-fs worker threads, and the
# binaries they spawn (built with TSan too).
tsan_tests='Mount|Daemon|RpcTest|Channel|Hostile|Import|Export|Conformance|Caching|GcBeside'
tsan_tests+='|StoreLock|Concurrent|VhostUser|GuestSessionHandler|VirtiofsCli|CliTest\.Gc'
tsan_tests+='|ChunkedBlobReader|ChunkedRpc|LyingChunks|WorkerPool|LayoutCache|LocalVerifiedRead'
# The S3 client: its connection pool, multipart workers and retry loop.
tsan_tests+='|S3Client|S3Retry'
# Single-threaded and too slow under TSan: the 1M-entry memory walk, the QEMU guest.
tsan_skip='MillionEntryWalk|VirtiofsGuest'
# The tests that go through gRPC run in a second pass that ignores accesses
# inside libc interceptors (docs/reliability.md says why).
tsan_grpc='Grpc/|RpcTest|Channel|Hostile|Daemon|ChunkedRpc|LyingChunks|CachingRpc'
# Only the binaries those tests live in (plus castor, which they spawn).
tsan_targets='castor castore_conformance_test castore_caching_test castore_lmdb_test
  castore_local_test castore_import_test castore_import_faults_test castore_maintenance_test
  castore_gc_concurrency_test rpc_test rpc_conformance_test daemon_e2e_test mount_test
  mount_stress_test mount_cli_test fault_mount_test cli_test vhost_user_test
  virtiofs_server_test virtiofs_cli_test castore_chunked_test rpc_chunked_test rpc_limits_test
  full_disk_test daemon_socket_test flapping_daemon_test damaged_store_test rpc_stall_test
  stalled_daemon_test s3_client_test s3_retry_test castor_nix_pathinfo_test
  castore_mutex_test rpc_root_closure_test daemon_gc_test rpc_caching_test verified_read_test'
ctest_args=()
reports=
case "${1:-}" in
  --asan)
    dir=$root/build-asan
    "$root/scripts/build.sh" "$dir" -DCASTOR_SANITIZE=address,undefined -DCASTOR_BUILD_BENCH=OFF
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    ;;
  --tsan)
    dir=$root/build-tsan
    CASTOR_BUILD_TARGETS=$(echo $tsan_targets) \
      "$root/scripts/build.sh" "$dir" -DCASTOR_SANITIZE=thread -DCASTOR_BUILD_BENCH=OFF
    # Every instrumented process, the castor children the tests spawn
    # included, writes its reports to $reports/report.PID and exits 66 at
    # the first one; any report file fails the run even when the test that
    # spawned the process did not look at its exit status.
    reports=$dir/tsan-reports
    rm -rf "$reports"
    mkdir -p "$reports"
    export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$root/scripts/tsan.supp:log_path=$reports/report"
    ctest_args=(-R "$tsan_tests" -E "$tsan_skip|$tsan_grpc")
    ;;
  "")
    dir=$root/build
    "$root/scripts/build.sh" "$dir"
    ;;
  *) echo "usage: $0 [--asan|--tsan]" >&2; exit 2 ;;
esac
cd "$dir"
rc=0
ctest --output-on-failure -j "$(nproc)" --timeout 600 "${ctest_args[@]}" || rc=$?
if [ -n "$reports" ]; then
  TSAN_OPTIONS="$TSAN_OPTIONS:ignore_interceptors_accesses=1" \
    ctest --output-on-failure -j "$(nproc)" --timeout 600 -R "$tsan_grpc" -E "$tsan_skip" || rc=$?
fi
if [ -n "$reports" ] && [ -n "$(ls -A "$reports")" ]; then
  for f in "$reports"/*; do
    echo "=== $f"
    cat "$f"
  done
  echo "ThreadSanitizer reported $(ls "$reports" | wc -l) problem(s), see above" >&2
  rc=1
fi
exit $rc
