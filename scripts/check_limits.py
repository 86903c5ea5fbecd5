#!/usr/bin/env python3
"""The house's limits, checked on every test run (tests/CMakeLists.txt: code_limits).

- no production source file (.cc/.h outside tests/, bench/, fuzz/, testing/) over 800 lines;
- no production function over 120 lines (universal-ctags: from its name to its closing brace);
- no run of 6 or more significant lines written twice in production code (the same lines after
  spaces are folded; blank lines, comments, lone braces and #includes do not count).

Each offender is named (file:line, the size, the limit). Exit status 1 if there is any.

  scripts/check_limits.py [--repo DIR]
"""
import argparse
import collections
import os
import re
import subprocess
import sys

MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 120
MIN_REPEAT_LINES = 6
EXEMPT_DIRS = ('tests/', 'bench/', 'fuzz/', 'testing/', 'build/', 'package/stage/')


def production_files(repo):
    out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                         cwd=repo, capture_output=True, text=True, check=True).stdout
    files = []
    for f in out.splitlines():
        if not f.endswith(('.cc', '.h')) or f.startswith(EXEMPT_DIRS):
            continue
        if os.path.isfile(os.path.join(repo, f)):
            files.append(f)
    return sorted(files)


def long_functions(repo, files):
    out = subprocess.run(['ctags', '-x', '--_xformat=%F %n %e %N', '--kinds-C++=f',
                          '--fields=+ne', '--languages=C++', '--language-force=C++'] + files,
                         cwd=repo, capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[2].isdigit():
            continue
        path, start, end, name = parts[0], int(parts[1]), int(parts[2]), parts[3]
        if name.startswith('__anon'):
            continue  # a lambda: counted in the function that holds it
        if end - start + 1 > MAX_FUNCTION_LINES:
            found.append((path, start, name, end - start + 1))
    return found


SKIP = re.compile(r'^(//.*|[{}();,]*|#include .*|#endif.*|namespace .*|}  // namespace.*|'
                  r'public:|private:|protected:|\*.*|/\*.*)$')


RAW_OPEN = re.compile(r'R"([^(\s]*)\(')


def significant(text):
    """(line number, folded text) of the lines that count for repetition. The inside of a raw
    string literal is data (a migration's SQL keeps the table it replaces), not code."""
    lines = []
    closing = None  # the end of the raw string we are in
    for i, raw in enumerate(text.split('\n'), 1):
        if closing is not None:
            if closing not in raw:
                continue
            raw = raw[raw.index(closing) + len(closing):]
            closing = None
        m = RAW_OPEN.search(raw)
        if m and ')' + m.group(1) + '"' not in raw[m.end():]:
            closing = ')' + m.group(1) + '"'
            raw = raw[:m.start()]
        s = ' '.join(raw.split())
        if not s or SKIP.match(s):
            continue
        lines.append((i, s))
    return lines


def repeated_runs(repo, files):
    """Pairs of places sharing MIN_REPEAT_LINES or more significant lines in a row."""
    sig = {f: significant(open(os.path.join(repo, f), encoding='utf-8', errors='replace').read())
           for f in files}
    where = collections.defaultdict(list)
    for f, lines in sig.items():
        for k in range(len(lines) - MIN_REPEAT_LINES + 1):
            key = '\n'.join(t for _, t in lines[k:k + MIN_REPEAT_LINES])
            where[key].append((f, k))
    pairs = {}
    for places in where.values():
        if len(places) < 2:
            continue
        for a in range(len(places)):
            for b in range(a + 1, len(places)):
                (fa, ka), (fb, kb) = places[a], places[b]
                if fa == fb and abs(ka - kb) < MIN_REPEAT_LINES:
                    continue  # a run overlapping itself
                # one row per run: keyed by how far apart the two places are
                key = (fa, fb, ka - kb)
                first = pairs.get(key)
                if first is None or ka < first[0]:
                    pairs[key] = (ka, kb, pairs[key][2] + 1 if first else 1)
                else:
                    pairs[key] = (first[0], first[1], first[2] + 1)
    rows = []
    for (fa, fb, _), (ka, kb, n) in sorted(pairs.items()):
        la, lb = sig[fa], sig[fb]
        length = n + MIN_REPEAT_LINES - 1
        rows.append((fa, la[ka][0], la[min(ka + length, len(la)) - 1][0],
                     fb, lb[kb][0], lb[min(kb + length, len(lb)) - 1][0]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repo', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()
    files = production_files(args.repo)
    bad = 0
    for f in files:
        n = sum(1 for _ in open(os.path.join(args.repo, f), encoding='utf-8', errors='replace'))
        if n > MAX_FILE_LINES:
            print(f'{f}: {n} lines; the limit is {MAX_FILE_LINES}: split it by job')
            bad += 1
    for path, start, name, n in long_functions(args.repo, files):
        print(f'{path}:{start}: function {name} is {n} lines; the limit is {MAX_FUNCTION_LINES}')
        bad += 1
    for fa, a0, a1, fb, b0, b1 in repeated_runs(args.repo, files):
        print(f'{fa}:{a0}-{a1} and {fb}:{b0}-{b1}: the same lines written twice '
              f'(at least {MIN_REPEAT_LINES}); keep one copy')
        bad += 1
    print(f'check_limits: {len(files)} production files, {bad} over the limits')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
