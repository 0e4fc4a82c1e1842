#!/bin/sh
# fetch-data.sh - download the datasets the experiments use, verify them
# against published checksums and unpack them where the engine looks for them
# (see engine/data/data.h):
#
#   DATA_DIR/mnist/                 the 4 IDX .gz files (kept compressed: the
#   DATA_DIR/fashion-mnist/         loader reads gzip directly)
#   DATA_DIR/cifar-10-batches-bin/  data_batch_1..5.bin, test_batch.bin
#   DATA_DIR/cifar-100-binary/      train.bin, test.bin
#
# Usage: sh tests/fetch-data.sh [DATA_DIR] [DATASET...]
#   DATA_DIR defaults to $SYMOG_DATA, else "data"; DATASET is any of
#   mnist fashion-mnist cifar10 cifar100 (default: all four).
#
# Checksums are MD5, the only hashes the publishers list for these files:
#   MNIST, Fashion-MNIST: the per-file MD5s in torchvision's
#     torchvision/datasets/mnist.py (MNIST.resources, FashionMNIST.resources).
#   CIFAR-10/100 binary: the MD5s in the table of versions on the dataset page,
#     https://www.cs.toronto.edu/~kriz/cifar.html (also in torchvision-style
#     loaders). SHA-256 of the tarballs as listed by tensorflow_datasets:
#     cifar-10-binary.tar.gz  c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd
#     cifar-100-binary.tar.gz 58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec
#     (checked too when sha256sum is available).
#
# A dataset already in place is left alone. Each dataset that cannot be
# fetched (no network, bad checksum, missing tool) is named at the end with
# how to put it in place by hand, and the exit status is 1: never silent.
set -u

DATA_DIR=${1:-${SYMOG_DATA:-data}}
[ $# -gt 0 ] && shift
WANT=${*:-mnist fashion-mnist cifar10 cifar100}
FASHION_SYSTEM=/usr/share/datasets/fashion-mnist
IDX_FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
FAILED=""

say() { printf '%s\n' "$*"; }
warn() { printf 'fetch-data: %s\n' "$*" >&2; }

# download URL DEST: to DEST.part, renamed only on success.
download() {
    rm -f "$2.part"
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 2 --connect-timeout 20 -o "$2.part" "$1" || { rm -f "$2.part"; return 1; }
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 20 -t 2 -O "$2.part" "$1" || { rm -f "$2.part"; return 1; }
    else
        warn "neither curl nor wget is installed; cannot download $1"
        return 1
    fi
    mv "$2.part" "$2"
}

# check FILE MD5 [SHA256]: 0 when the file matches the published hashes.
check() {
    if ! command -v md5sum >/dev/null 2>&1; then
        warn "md5sum (coreutils) not found; cannot verify $1"
        return 1
    fi
    got=$(md5sum "$1" | cut -d' ' -f1)
    if [ "$got" != "$2" ]; then
        warn "$1: MD5 $got, expected $2: the download is corrupt or the mirror changed"
        return 1
    fi
    if [ -n "${3:-}" ] && command -v sha256sum >/dev/null 2>&1; then
        got=$(sha256sum "$1" | cut -d' ' -f1)
        if [ "$got" != "$3" ]; then
            warn "$1: SHA-256 $got, expected $3: the download is corrupt"
            return 1
        fi
    fi
}

# fetch_verified DEST MD5 SHA256 URL...: try each mirror until one verifies.
fetch_verified() {
    dest=$1 md5=$2 sha=$3
    shift 3
    for url in "$@"; do
        say "  $url"
        if download "$url" "$dest" && check "$dest" "$md5" "$sha"; then
            return 0
        fi
        rm -f "$dest"
        warn "could not get $url"
    done
    return 1
}

idx_present() { # DIR: every IDX file there, raw or .gz
    for f in $IDX_FILES; do
        [ -f "$1/$f" ] || [ -f "$1/$f.gz" ] || return 1
    done
}

idx_md5() { # DATASET FILE -> published MD5 of FILE.gz
    case "$1:$2" in
    mnist:train-images-idx3-ubyte) echo f68b3c2dcbeaaa9fbdd348bbdeb94873 ;;
    mnist:train-labels-idx1-ubyte) echo d53e105ee54ea40749a09fcbcd1e9432 ;;
    mnist:t10k-images-idx3-ubyte) echo 9fb629c4189551a2d022fa330f9573f3 ;;
    mnist:t10k-labels-idx1-ubyte) echo ec29112dd5afa0611ce80d1b7f02629c ;;
    fashion-mnist:train-images-idx3-ubyte) echo 8d4fb7e6c68d591d4c3dfef9ec88bf0d ;;
    fashion-mnist:train-labels-idx1-ubyte) echo 25c81989df183df01b3e8a0aad5dffbe ;;
    fashion-mnist:t10k-images-idx3-ubyte) echo bef4ecab320f06d8554ea6380940ec79 ;;
    fashion-mnist:t10k-labels-idx1-ubyte) echo bb300cfdad3c16e7a12a480ee83cd310 ;;
    esac
}

idx_mirrors() { # DATASET -> base URLs, official first
    case "$1" in
    mnist) echo "https://ossci-datasets.s3.amazonaws.com/mnist/ http://yann.lecun.com/exdb/mnist/" ;;
    fashion-mnist) echo "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/" ;;
    esac
}

fetch_idx() { # DATASET
    dir="$DATA_DIR/$1"
    if idx_present "$dir"; then
        say "$1: already in $dir/"
        return 0
    fi
    if [ "$1" = fashion-mnist ] && idx_present "$FASHION_SYSTEM"; then
        say "$1: already installed in $FASHION_SYSTEM/ (Debian dataset-fashion-mnist)"
        return 0
    fi
    mkdir -p "$dir" || return 1
    for f in $IDX_FILES; do
        [ -f "$dir/$f.gz" ] && check "$dir/$f.gz" "$(idx_md5 "$1" "$f")" 2>/dev/null && continue
        urls=""
        for base in $(idx_mirrors "$1"); do urls="$urls $base$f.gz"; done
        say "$1: fetching $f.gz"
        # shellcheck disable=SC2086 # the URL list is meant to split
        fetch_verified "$dir/$f.gz" "$(idx_md5 "$1" "$f")" "" $urls || return 1
    done
    say "$1: ok, in $dir/"
}

fetch_cifar() { # DATASET TARBALL SUBDIR FIRST_FILE MD5 SHA256
    if [ -f "$DATA_DIR/$3/$4" ]; then
        say "$1: already in $DATA_DIR/$3/"
        return 0
    fi
    mkdir -p "$DATA_DIR/.download" || return 1
    tgz="$DATA_DIR/.download/$2"
    say "$1: fetching $2 (about 160 MB)"
    fetch_verified "$tgz" "$5" "$6" "https://www.cs.toronto.edu/~kriz/$2" || return 1
    if ! tar xzf "$tgz" -C "$DATA_DIR"; then
        warn "$tgz: could not unpack"
        return 1
    fi
    rm -f "$tgz"
    rmdir "$DATA_DIR/.download" 2>/dev/null
    say "$1: ok, in $DATA_DIR/$3/"
}

fetch() { # DATASET
    case "$1" in
    mnist | fashion-mnist) fetch_idx "$1" ;;
    cifar10) fetch_cifar cifar10 cifar-10-binary.tar.gz cifar-10-batches-bin data_batch_1.bin \
        c32a1d4ab5d03f1284b67883e8d87530 \
        c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd ;;
    cifar100) fetch_cifar cifar100 cifar-100-binary.tar.gz cifar-100-binary train.bin \
        03b5dce01913d631647c71ecec9e9cb8 \
        58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec ;;
    *)
        warn "unknown dataset '$1'; valid: mnist fashion-mnist cifar10 cifar100"
        return 1 ;;
    esac
}

by_hand() { # DATASET: how to put it in place without this script
    case "$1" in
    mnist) say "  mnist: download$(for f in $IDX_FILES; do printf ' %s.gz' "$f"; done)
    from https://ossci-datasets.s3.amazonaws.com/mnist/ (mirror of http://yann.lecun.com/exdb/mnist/)
    into $DATA_DIR/mnist/" ;;
    fashion-mnist) say "  fashion-mnist: apt-get install dataset-fashion-mnist, or download the same
    4 *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist (data/fashion/)
    into $DATA_DIR/fashion-mnist/" ;;
    cifar10) say "  cifar10: download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
    (md5 c32a1d4ab5d03f1284b67883e8d87530) and run: tar xzf cifar-10-binary.tar.gz -C $DATA_DIR
    (this creates $DATA_DIR/cifar-10-batches-bin/)" ;;
    cifar100) say "  cifar100: download https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz
    (md5 03b5dce01913d631647c71ecec9e9cb8) and run: tar xzf cifar-100-binary.tar.gz -C $DATA_DIR
    (this creates $DATA_DIR/cifar-100-binary/)" ;;
    esac
}

mkdir -p "$DATA_DIR" || { warn "cannot create $DATA_DIR"; exit 1; }
for d in $WANT; do
    fetch "$d" || FAILED="$FAILED $d"
done

# leave no empty directories behind from failed attempts
for d in .download mnist fashion-mnist; do rmdir "$DATA_DIR/$d" 2>/dev/null; done

if [ -n "$FAILED" ]; then
    say ""
    say "could not fetch:$FAILED"
    say "(no network, a failed checksum or a missing tool; messages above say which)."
    say "To put them in place by hand:"
    for d in $FAILED; do by_hand "$d"; done
    exit 1
fi
say "all requested datasets are in place under $DATA_DIR/"
