#!/usr/bin/env bash
# Lock discipline checked by the compiler: compiles every source that takes an annotated lock
# (base/mutex.h), or the files given, with clang -Wthread-safety -Werror=thread-safety, using the flags of the build's
# compile_commands.json. A field read without its lock (GUARDED_BY), or a *Locked function called
# without it (REQUIRES), fails with clang's message naming the line. base/thread_annotations.h
# says what the attributes mean.
#
#   scripts/check_thread_safety.sh [BUILD_DIR] [FILE.cc...]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}}"
shift || true
command -v clang++ >/dev/null || { echo "check_thread_safety: clang++ not found" >&2; exit 1; }
[[ -f "${BUILD_DIR}/compile_commands.json" ]] || {
  echo "check_thread_safety: ${BUILD_DIR}/compile_commands.json missing (configure first)" >&2; exit 1; }
python3 - "${REPO_ROOT}" "${BUILD_DIR}" "$@" <<'PY'
import json, os, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
root, build, only = sys.argv[1], sys.argv[2], sys.argv[3:]

def command(e, path):
    keep, skip = [], False
    for a in shlex.split(e['command'])[1:]:
        if skip: skip = False; continue
        if a in ('-o', '-MF', '-MT'): skip = True; continue
        if a in ('-c', '-MD') or a == e['file'] or a.startswith('-W') or a.startswith('-fopenmp'):
            continue
        keep.append(a)
    return ['clang++'] + keep + ['-fsyntax-only', '-Wno-everything', '-Wthread-safety',
                                 '-Wthread-safety-beta', '-Werror=thread-safety', path]

known = {}
for e in json.load(open(os.path.join(build, 'compile_commands.json'))):
    path = os.path.normpath(os.path.join(e['directory'], e['file']))
    known[os.path.relpath(path, root)] = e
if only:
    rels = [os.path.relpath(os.path.abspath(f), root) for f in only]
else:
    # Every source that takes an annotated lock (base/mutex.h) or states what it requires.
    rels = []
    for r in sorted(known):
        if (r.startswith(('build/', 'tests/', 'bench/', 'fuzz/')) or not r.endswith('.cc')
                or not os.path.isfile(os.path.join(root, r))):
            continue
        text = open(os.path.join(root, r), encoding='utf-8', errors='replace').read()
        if 'MutexLock' in text or 'REQUIRES(' in text or 'AssertHeld()' in text:
            rels.append(r)
jobs = []
for rel in rels:
    # A file the build does not list yet takes the flags of a listed file in its folder.
    e = known.get(rel) or next((known[r] for r in sorted(known)
                                if os.path.dirname(r) == os.path.dirname(rel)), None)
    if e is None: sys.exit(f'check_thread_safety: no compile flags for {rel}')
    jobs.append((rel, command(e, os.path.join(root, rel)), e['directory']))
if not jobs: sys.exit('check_thread_safety: no sources matched')

def run(job):
    rel, cmd, d = job
    p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    return rel, p.returncode, p.stderr

bad = 0
with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
    for rel, rc, err in ex.map(run, jobs):
        if rc != 0:
            bad += 1
            sys.stderr.write(err)
            print(f'check_thread_safety: {rel}: FAILED', file=sys.stderr)
print(f'check_thread_safety: {len(jobs) - bad} of {len(jobs)} sources pass clang -Wthread-safety')
sys.exit(1 if bad else 0)
PY
