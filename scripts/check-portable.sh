#!/usr/bin/env bash
# Fails when a host-side script uses what macOS's bash 3.2 or BSD tools lack (the lecture's
# cluster commands and the demo run from students' laptops). CI runs it beside shellcheck.
#
# usage: scripts/check-portable.sh [FILE...]     (default: scripts/*.sh scripts/lib/*.sh)
#
# What it rejects, and what to write instead:
#   declare -A / local -A / typeset -A   associative arrays (bash 4): indexed arrays, functions
#   mapfile, readarray                   bash 4: while read -r loops
#   ${x,,} ${x^^} ${x,} ${x^}            bash 4 case changes: tr '[:upper:]' '[:lower:]'
#   declare -n / local -n                namerefs (bash 4.3)
#   wait -n, coproc, |&, &>>             bash 4: explicit forms
#   ${x@Q} and other ${x@...}            bash 4.4 transformations
#   stat -c                              GNU stat: ls -ln, or stat -f on BSD
#   sed -i                               GNU and BSD differ: write to a temporary file
#   readlink -f, realpath                GNU / not on older macOS: cd "$(dirname ...)" && pwd
#   date -d, date --                     GNU date: date +%s arithmetic
#   grep -P, xargs -r, sort -V, base64 -w, find -printf, head -c -N, nproc
#                                        GNU-only options or tools
#   CMD | grep -q, CMD | head           not portability but a race under pipefail: the reader exits
#                                        early, CMD dies of SIGPIPE and the pipeline fails now and
#                                        then: grep -q PATTERN <<<"$(CMD)", awk '... { exit }'
# A line may opt out with a trailing comment "# portable: REASON".
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
    # Every host-side script but this one (its patterns would match themselves).
    for f in scripts/*.sh scripts/lib/*.sh; do
        [ "$f" = scripts/check-portable.sh ] || set -- "$@" "$f"
    done
fi
# A tool's name as a word of its own (not inside "update" or "netstat").
w='(^|[^[:alnum:]_.-])'

patterns=(
    'declare +-A|local +-A|typeset +-A'
    "${w}(mapfile|readarray)([^[:alnum:]_]|\$)"
    '\$\{[A-Za-z_][A-Za-z0-9_]*(,,|\^\^|,|\^)\}'
    '(declare|local) +-n '
    "${w}wait +-n|${w}coproc([^[:alnum:]_]|\$)|\\|&|&>>"
    '\$\{[A-Za-z_][A-Za-z0-9_]*@[A-Za-z]\}'
    "${w}stat +-c"
    "${w}sed +(-[a-zA-Z]*i|--in-place)"
    "${w}readlink +-f|${w}realpath([^[:alnum:]_-]|\$)"
    "${w}date +(-d|--)"
    '\| *(grep +-[a-zA-Z]*q[a-zA-Z]*|head)([^[:alnum:]_-]|$)'
    "${w}grep +-[a-zA-Z]*P|${w}xargs +-r|${w}sort +-V|${w}base64 +-w|${w}find .*-printf|${w}head +-c +-|${w}nproc([^[:alnum:]_-]|\$)"
)

bad=0
for f in "$@"; do
    for p in "${patterns[@]}"; do
        # Comment lines and opted-out lines are skipped.
        while IFS= read -r hit; do
            [ -n "$hit" ] || continue
            echo "$f:$hit" >&2
            bad=1
        done < <(grep -nE -- "$p" "$f" | grep -vE '^[0-9]+:[[:space:]]*#' | grep -v '# portable:' || true)
    done
done
if [ "$bad" = 1 ]; then
    echo "check-portable.sh: the lines above need bash 4 or GNU tools, or race under pipefail (see the list in this script)" >&2
    exit 1
fi
echo "check-portable.sh: $# file(s) use only bash 3.2 and POSIX/BSD-compatible tools"
