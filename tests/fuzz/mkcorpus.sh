#!/bin/sh
# Regenerate the named seeds of tests/fuzz/corpus/ (run from the repository
# root after `make`; needs gzip and Debian's dataset-fashion-mnist). Seeds
# are small valid files of every format, a few near-misses, and the files a
# real run writes (a lenet5-classic model.safetensors, config.yaml,
# result.yaml); the Lua seeds are experiments/*.lua and a few hand-written
# ones. The files named by a SHA-1 are what `make fuzz` found, minimised
# with libFuzzer's -merge=1 (see docs/faults.md); this script keeps them.
set -eu
C=tests/fuzz/corpus
mkdir -p "$C/idx" "$C/cifar" "$C/safetensors" "$C/yaml" "$C/qopts" "$C/sched" "$C/lua"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
u16() { printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $(($1 >> 8)))"; }
u64() { printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\000\\000\\000\\000\\000\\000"; }

# ---- IDX: u16 split, images file, labels file ----------------------------
printf '\000\000\010\003\000\000\000\002\000\000\000\003\000\000\000\003' >"$tmp/i"
printf '\001\002\003\004\005\006\007\010\011\377\376\375\374\373\372\371\370\367' >>"$tmp/i"
printf '\000\000\010\001\000\000\000\002\007\011' >"$tmp/l"
{ u16 34; cat "$tmp/i" "$tmp/l"; } >"$C/idx/tiny"
gzip -9nc "$tmp/i" >"$tmp/ig"; gzip -9nc "$tmp/l" >"$tmp/lg"
{ u16 "$(wc -c <"$tmp/ig")"; cat "$tmp/ig" "$tmp/lg"; } >"$C/idx/tiny-gz"
{ u16 34; cat "$tmp/i"; gzip -9nc "$tmp/l"; } >"$C/idx/mixed"
F=/usr/share/datasets/fashion-mnist
{ printf '\000\000\010\003\000\000\000\003\000\000\000\034\000\000\000\034'
  zcat "$F/t10k-images-idx3-ubyte.gz" | dd bs=1 skip=16 count=2352 2>/dev/null; } >"$tmp/fi"
{ printf '\000\000\010\001\000\000\000\003'
  zcat "$F/t10k-labels-idx1-ubyte.gz" | dd bs=1 skip=8 count=3 2>/dev/null; } >"$tmp/fl"
{ u16 2368; cat "$tmp/fi" "$tmp/fl"; } >"$C/idx/fashion3"
gzip -9nc "$tmp/fi" >"$tmp/fig"
{ u16 "$(wc -c <"$tmp/fig")"; cat "$tmp/fig"; gzip -9nc "$tmp/fl"; } >"$C/idx/fashion3-gz"
{ u16 34; cat "$tmp/l" "$tmp/i"; } >"$C/idx/swapped"

# ---- CIFAR: flags, u16 split, file(s) ------------------------------------
head -c 3072 /dev/zero | tr '\000' '\200' >"$tmp/px"
{ printf '\000\000\000\003'; cat "$tmp/px"; } >"$C/cifar/c10-one"
{ printf '\003'; u16 3074; printf '\002\061'; cat "$tmp/px"; printf '\001\143'; cat "$tmp/px"; } >"$C/cifar/c100-two"
{ printf '\000\000\000\012'; cat "$tmp/px"; } >"$C/cifar/c10-badlabel"

# ---- safetensors: hand-made and from a real run --------------------------
st() { # st NAME JSON DATA-PRINTF
    hl=$(printf '%s' "$2" | wc -c)
    { u64 "$hl"; printf '%s' "$2"; printf "$3"; } >"$C/safetensors/$1"
}
st empty '{}' ''
st meta '{"__metadata__":{"format":"pt","model":"lenet5"}}' ''
st f32 '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' '\000\000\200\077\000\000\000\300'
st mixed '{"__metadata__":{"k":"v"},"b":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"c":{"dtype":"U8","shape":[2,2],"data_offsets":[8,12]},"d":{"dtype":"F64","shape":[0],"data_offsets":[12,12]}}' '\001\000\000\000\000\000\000\000\001\002\003\004'
st escapes '{"w\\u00e9\\n":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}' '\377'
st overlap '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}' '\001\002\003'
build/symog train --model lenet5-classic --epochs 1 --train-subset 64 --test-subset 64 \
    --threads 1 --progress 0 --quiet --out "$tmp/run" >/dev/null
cp "$tmp/run/model.safetensors" "$C/safetensors/lenet5-classic-model"

# ---- YAML: what runs write, and the shapes the reader must refuse --------
cp "$tmp/run/config.yaml" "$C/yaml/config"
cp "$tmp/run/result.yaml" "$C/yaml/result"
printf 'a: 1\nb:\n  c: [1, 2, {d: x}]\n  e: "q\\u00e9"\nf: |\n  text\n' >"$C/yaml/nested"
printf 'a: &x 1\nb: *x\n' >"$C/yaml/alias"
printf 'a: 1\na: 2\n' >"$C/yaml/dup"
printf -- '--- {a: 1}\n--- {b: 2}\n' >"$C/yaml/twodocs"
printf '? [a]\n: 1\n' >"$C/yaml/complexkey"
printf 'a.b: 1\na: {b: 2}\n' >"$C/yaml/collide"

# ---- quantizer options: selector byte (0 float, 1 symog, 2 synthetic) ----
printf '\001lambdaT=1e3\nclip=half\nmodes=nozero\nshift=-2' >"$C/qopts/symog"
printf '\001lambda0=x' >"$C/qopts/symog-bad"
printf '\002num=1e-3\nneg=-5\nint=7\nflag=true\nmode=longer' >"$C/qopts/synth"
printf '\000' >"$C/qopts/float-none"
printf '\000key=1' >"$C/qopts/float-unknown"

# ---- optimizer (even selector) and schedule (odd) strings ----------------
for s in sgd sgd:0 nesterov:0.95 adam adam:0.5,0.99,1e-6; do printf '\000%s' "$s" >"$C/sched/o-$(echo "$s" | tr ':,+' '___')"; done
for s in const step:30:0.1 multistep:50,75 multistep:1,2,3:0.5 cosine cosine:1e-5+warmup:5 exp:0.95; do
    printf '\001%s' "$s" >"$C/sched/s-$(echo "$s" | tr ':,+' '___')"
done
# ---- Lua experiment files -------------------------------------------------
for f in experiments/*.lua; do
    b=$(basename "$f" .lua)
    [ "$b" = _common ] || cp "$f" "$C/lua/$b"
done
cp experiments/_common.lua "$C/lua/common-as-experiment"
printf 'experiment { name = "x" }\n' >"$C/lua/minimal"
printf 'while true do end\n' >"$C/lua/endless"
printf 'local s = string.rep("x", 1 << 30)\n' >"$C/lua/huge-string"
printf 'experiment {}\nexperiment {}\n' >"$C/lua/twice"
printf 'local t = {} t[1] = t\nexperiment { name = "cyc", base = t }\n' >"$C/lua/cycle"
printf 'return include "exp.lua"\n' >"$C/lua/self-include"
du -sh "$C"
