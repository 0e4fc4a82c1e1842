#!/bin/sh
# make reproduce: train every experiment of experiments/ for one profile
# (symog grid), then write the tables and figures (symog report).
#
#   sh experiments/reproduce.sh [smoke|quick|paper]     JOBS=N: parallel runs
#
# Finished runs are reused, so killing it and starting it again redoes only
# the unfinished runs. Runs whose dataset is missing are skipped (never
# replaced by another dataset); the report's last lines list them.
set -u
profile=${1:-quick}
case "$profile" in
    smoke | quick | paper) ;;
    *) echo "reproduce: unknown profile '$profile' (smoke, quick, paper)" >&2; exit 2 ;;
esac
symog=${SYMOG:-build/symog}
# the tables first, so runs that several experiments share are trained (and
# kept) under the table that shows them; then figures and ablations; then
# any other experiment file someone added
files="experiments/table1-lenet5bn.lua experiments/fig-hist.lua experiments/fig-bits.lua
       experiments/table1b-lenet5.lua experiments/table2-cifar10.lua experiments/table3-cifar100.lua"
for f in experiments/ablation-*.lua experiments/[!_]*.lua; do
    [ -f "$f" ] || continue
    case " $(echo $files) " in *" $f "*) ;; *) files="$files $f" ;; esac
done
jobs=""
[ -n "${JOBS:-}" ] && jobs="--jobs $JOBS"
start=$(date +%s)
# shellcheck disable=SC2086
$symog grid $files --profile "$profile" $jobs
grid_rc=$?
if [ "$grid_rc" -eq 130 ] || [ "$grid_rc" -eq 2 ]; then
    [ "$grid_rc" -eq 130 ] && echo "reproduce: interrupted; \`make reproduce PROFILE=$profile\` continues where it stopped"
    exit "$grid_rc"
fi
echo
# shellcheck disable=SC2086
$symog report $files --profile "$profile"
report_rc=$?
echo "reproduce: profile $profile done in $(( ($(date +%s) - start) / 60 )) min; tables: results/tables/ (all in results/tables/index.md), figures: results/figures/ (all in results/figures/index.md)"
if [ "$grid_rc" -ne 0 ]; then
    echo "reproduce: some runs failed (listed above with their logs); their cells are empty" >&2
    exit 1
fi
exit "$report_rc"
