#!/bin/sh
# make reproduce: until the experiment grids land, train the default LeNet5
# float run on Fashion-MNIST (profile decides epochs) and report its result.
set -e
profile=${1:-quick}
case "$profile" in
    smoke) epochs=1; extra="--train-subset 2000 --test-subset 1000" ;;
    quick) epochs=10; extra="" ;;
    paper) epochs=100; extra="" ;;
    *) echo "reproduce: unknown profile '$profile' (smoke, quick, paper)" >&2; exit 2 ;;
esac
out=results/runs/reproduce-$profile/lenet5-fashion-mnist-float
build/symog train --model lenet5 --data fashion-mnist --epochs $epochs $extra --out "$out" --resume
echo "reproduce: result in $out/result.yaml"
