#!/bin/sh
# The git workload: commit three versions of a generated tree, then read
# the history back (diffs) and repack it (delta search): the last two are
# where git allocates most, while the commits mostly write files.
#
#     sh git.sh TREES_DIR        (TREES_DIR holds v1, v2 and v3)
#
# The repository is made in the current directory.  Names and dates are
# fixed by the caller's environment (GIT_AUTHOR_DATE ...), so the commit ids
# and therefore the whole output are the same on every run.
set -e
trees=$1
export GIT_DIR="$PWD/repo.git"
git init -q
for version in v1 v2 v3; do
    GIT_WORK_TREE="$trees/$version" git add -A
    GIT_WORK_TREE="$trees/$version" git commit -q -m "tree $version"
done
git log -p --stat --format='%H %s'
git diff --shortstat HEAD~2 HEAD
git -c gc.auto=0 -c gc.aggressiveWindow=100 gc -q --aggressive
git count-objects -v | grep -E '^(count|in-pack|packs):'
git rev-list --objects --all | wc -l
