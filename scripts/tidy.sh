#!/usr/bin/env bash
# Runs clang-tidy with .clang-tidy's checks over every non-test source under
# src/ and fails on any finding. Usage: scripts/tidy.sh [BUILD_DIR]
# BUILD_DIR (default build/) must be configured (scripts/build.sh): its
# compile_commands.json gives each file's flags, and generated headers
# (protobuf) must exist. A file passes from cache when its preprocessed text,
# its compile command, .clang-tidy and the clang-tidy version are what they
# were when it last passed (cache: $CASTOR_TIDY_CACHE, default
# ~/.cache/castor-tidy), so an unchanged tree checks in seconds.
# CASTOR_TIDY_JOBS: files checked at once (default: the number of CPUs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "${1:-$root/build}" && pwd)
[ -f "$dir/compile_commands.json" ] || {
  echo "tidy: $dir/compile_commands.json is missing; run scripts/build.sh first" >&2
  exit 2
}
exec python3 - "$root" "$dir" "${CASTOR_TIDY_CACHE:-$HOME/.cache/castor-tidy}" <<'PY'
import concurrent.futures, hashlib, json, os, shlex, subprocess, sys, time

root, build, cache = sys.argv[1:4]
os.makedirs(cache, exist_ok=True)
with open(os.path.join(root, ".clang-tidy"), "rb") as f:
    config = f.read()
version = subprocess.run(["clang-tidy", "--version"], capture_output=True, check=True).stdout
src = os.path.join(root, "src") + os.sep
with open(os.path.join(build, "compile_commands.json")) as f:
    entries = [e for e in json.load(f)
               if e["file"].startswith(src) and not e["file"].endswith("_test.cc")
               and os.sep + "testing" + os.sep not in e["file"]]

# clang-tidy falls back to its default checks (the static analyzer) when it
# cannot parse .clang-tidy, and says so only on stderr: refuse to run then.
listed = subprocess.run(["clang-tidy", "--list-checks", "-p", build, entries[0]["file"]],
                        capture_output=True, text=True)
enabled = [l.strip() for l in listed.stdout.splitlines()[1:] if l.strip()]
if listed.returncode != 0 or listed.stderr.strip() or not enabled or any(
        not c.startswith(("bugprone-", "performance-")) for c in enabled):
    sys.stderr.write(listed.stderr)
    sys.exit("tidy: clang-tidy does not run the checks .clang-tidy names "
             f"(it lists {', '.join(enabled[:3]) or 'none'}...); fix .clang-tidy")

def preprocess_args(entry):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c":
            out.append(a)
    return out + ["-E", "-o", "-"]

def check(entry):
    path = entry["file"]
    pre = subprocess.run(preprocess_args(entry), cwd=entry["directory"], capture_output=True)
    # Keyed without the checkout's own path, so a fresh clone elsewhere
    # finds what an earlier checkout passed.
    here = root.encode()
    key = hashlib.sha256()
    for part in (pre.stdout.replace(here, b"@"), entry.get("command", "").encode().replace(here, b"@"),
                 config, version, os.path.relpath(path, root).encode()):
        key.update(hashlib.sha256(part).digest())
    stamp = os.path.join(cache, key.hexdigest())
    if pre.returncode == 0 and os.path.exists(stamp):
        return path, True, True, ""
    res = subprocess.run(["clang-tidy", "--quiet", "-p", build,
                          "--extra-arg=-Wno-unknown-warning-option",
                          "--extra-arg=-Wno-error", path],
                         capture_output=True, text=True)
    ok = res.returncode == 0
    if ok and pre.returncode == 0:
        open(stamp, "w").close()
    return path, ok, False, res.stdout + (res.stderr if not ok else "")

start = time.time()
failed, cached = [], 0
with concurrent.futures.ThreadPoolExecutor(int(os.environ.get("CASTOR_TIDY_JOBS", os.cpu_count() or 2))) as pool:
    for path, ok, hit, output in pool.map(check, entries):
        cached += hit
        if not ok:
            failed.append(os.path.relpath(path, root))
            sys.stdout.write(output)
print(f"tidy: {len(entries)} files, {cached} unchanged since they passed, "
      f"{len(failed)} with findings, {time.time() - start:.0f} s")
if failed:
    print("tidy: findings in " + ", ".join(failed) +
          " (fix them, or NOLINT(check) with the reason beside it)", file=sys.stderr)
    sys.exit(1)
PY
