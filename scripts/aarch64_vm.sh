#!/usr/bin/env bash
# Run sysemu's test suite on a real aarch64 Linux kernel, on an x86-64 host without ARM hardware.
#
#   scripts/aarch64_vm.sh [--smoke] [--build-only] [--env NAME=VALUE]... [-- PYTEST_ARGS...]
#
# Builds (once, then cached) a Debian bookworm arm64 system from Debian's packages with
# mmdebstrap, whose package scripts run under qemu-user through binfmt_misc; downloads the
# Python wheels setup.sh installs (for aarch64, once, cached) so that the machine needs no
# network; copies this work tree onto a fresh disk; boots the arm64 kernel of the image with
# qemu-system-aarch64 -M virt -cpu max (TCG: emulated, 10-50x slower than native); inside,
# runs ./setup.sh and pytest (the whole suite, the smoke subset with --smoke, or the arguments
# after --), and prints pytest's summary. Everything emulated runs under nice -n 19. --env sets
# a variable for pytest inside (SYSEMU_NO_SPEEDUPS=1: the Python loops, not the C ones).
#
# Environment: SYSEMU_VM_CACHE (default ~/.cache/sysemu-vm), SYSEMU_VM_TIMEOUT (seconds the
# machine may run, default 10800), SYSEMU_VM_MEMORY (MiB, default 4096).
# Needs root (mmdebstrap's root mode, binfmt_misc, mke2fs -d keeping owners) and the Debian
# packages mmdebstrap qemu-user-static qemu-system-arm e2fsprogs python3-pip.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD

suite=bookworm
cache=${SYSEMU_VM_CACHE:-$HOME/.cache/sysemu-vm}/aarch64-$suite
timeout_s=${SYSEMU_VM_TIMEOUT:-10800}
memory=${SYSEMU_VM_MEMORY:-4096}
# The smoke subset: a sample of the engine on every backend, and the tools, whole.
engine=tests/test_engine.py
smoke_tests=(
    "$engine::test_emulated_getpid_returns_the_handlers_value"
    "$engine::test_a_shell_sees_the_emulated_pid_and_the_denied_file"
    "$engine::test_rewritten_path_opens_another_file"
    "$engine::test_change_to_another_syscall"
    "$engine::test_observe_sees_and_replaces_results"
    "$engine::test_fork_vfork_clone3_posix_spawn_and_threads_are_followed"
    "$engine::test_a_call_interrupted_by_a_signal_restarts_and_is_decided_again"
    "$engine::test_the_numbers_the_architecture_writes_out_are_the_tables"
    tests/test_decisions.py tests/test_backends.py tests/test_inject.py tests/test_trace.py
    tests/test_vfs.py tests/test_arch_seam.py tests/test_arch_aarch64.py tests/test_abi_aarch64.py
    --timeout=300
)

pytest_args=()
build_only=0
vm_env=()
while [ $# -gt 0 ]; do
    case $1 in
        --smoke) pytest_args=("${smoke_tests[@]}"); shift ;;
        --build-only) build_only=1; shift ;;
        --env) vm_env+=("$2"); shift 2 ;;
        --) shift; pytest_args=("$@"); break ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "aarch64_vm: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

fail() { echo "aarch64_vm: $*" >&2; exit 3; }
now() { date +%s; }
[ "$(id -u)" -eq 0 ] || fail "needs root (mmdebstrap, binfmt_misc, disk image owners)"
for tool in mmdebstrap qemu-system-aarch64 qemu-aarch64-static mke2fs; do
    command -v "$tool" >/dev/null ||
        fail "missing $tool: apt-get install mmdebstrap qemu-user-static qemu-system-arm e2fsprogs"
done
python3 -m pip --version >/dev/null 2>&1 || fail "missing pip: apt-get install python3-pip"

# Packages of the image: what setup.sh installs, Python's headers and venv, and the kernel.
packages=python3,python3-dev,python3-venv,gcc,libc6-dev,strace,proot,liburing-dev,procps
packages+=,linux-image-arm64,iproute2,ca-certificates
# The initramfs only needs to find the virtio disk: building it with every module, under
# qemu-user, would take most of the image's build time.
initramfs_hook='mkdir -p "$1/usr/share/initramfs-tools/modules.d" "$1/etc/initramfs-tools/conf.d"
printf "virtio_mmio\nvirtio_pci\nvirtio_blk\next4\n" > "$1/usr/share/initramfs-tools/modules.d/sysemu-vm"
printf "MODULES=list\nCOMPRESS=gzip\n" > "$1/etc/initramfs-tools/conf.d/sysemu-vm"'
stamp="$suite $packages $(printf %s "$initramfs_hook" | sha256sum | cut -c1-16)"

build_image() {
    mkdir -p "$cache"
    if [ -f "$cache/root.tar" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; then
        return
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
            fail "cannot mount binfmt_misc (needed to run arm64 package scripts)"
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 ||
            fail "cannot register qemu-aarch64 with binfmt_misc (update-binfmts --enable qemu-aarch64)"
    fi
    echo "== building the arm64 image in $cache (once; about 15-20 min)"
    local start; start=$(now)
    rm -f "$cache/root.tar" "$cache/stamp"
    nice -n 19 mmdebstrap --arch=arm64 --variant=apt --format=tar --include="$packages" \
        --essential-hook="$initramfs_hook" \
        "$suite" "$cache/root.tar.part" >"$cache/build.log" 2>&1 ||
        fail "mmdebstrap failed: see $cache/build.log"
    mv "$cache/root.tar.part" "$cache/root.tar"
    echo "$stamp" >"$cache/stamp"
    echo "== image built in $(( $(now) - start )) s"
}

download_wheels() {
    local want; want=$(cat pyproject.toml bench/requirements.txt | sha256sum | cut -c1-16)
    if [ "$(cat "$cache/wheels/stamp" 2>/dev/null)" = "$want" ]; then return; fi
    echo "== downloading the aarch64 wheels setup.sh installs"
    rm -rf "$cache/wheels"; mkdir -p "$cache/wheels"
    # The development extras of pyproject.toml, read with the host's Python.
    mapfile -t dev < <(python3 - <<'EOF'
import re
text = open("pyproject.toml").read()
block = re.search(r"^dev = \[(.*?)\]", text, re.M | re.S).group(1)
print("\n".join(re.findall(r'"([^"]+)"', block)))
EOF
)
    python3 -m pip download -q -d "$cache/wheels" --only-binary=:all: \
        --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
        --platform manylinux_2_28_aarch64 --platform linux_aarch64 --platform any \
        --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
        pip "setuptools>=77" wheel "${dev[@]}" -r bench/requirements.txt \
        >"$cache/wheels.log" 2>&1 || fail "pip download failed: see $cache/wheels.log"
    echo "$want" >"$cache/wheels/stamp"
}

make_disk() {
    local root=$1 disk=$2
    echo "== making the disk (image, wheels, this work tree)"
    mkdir -p "$root"
    tar -C "$root" -xf "$cache/root.tar"
    mkdir -p "$root/opt/wheels" "$root/project"
    cp "$cache"/wheels/*.whl "$root/opt/wheels/"
    # The work tree as git sees it (tracked and untracked files, no build products).
    git ls-files -z --cached --others --exclude-standard |
        tar -C "$project" --null -T - -cf - | tar -C "$root/project" -xf -
    printf '%q ' "${pytest_args[@]}" >"$root/project/.vm-pytest-args"
    : >"$root/project/.vm-env"
    [ ${#vm_env[@]} -eq 0 ] || printf 'export %q\n' "${vm_env[@]}" >"$root/project/.vm-env"
    cat >"$root/sbin/sysemu-vm-init" <<'EOF'
#!/bin/bash
# PID 1 of the test machine: mount what a system has, install the project, run pytest.
# (The apt variant has no mount(8): Python's ctypes makes the calls.)
python3 - <<'MOUNTS'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for fs, target in (("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev"),
                   ("devpts", "/dev/pts"), ("tmpfs", "/dev/shm"), ("tmpfs", "/tmp"),
                   ("tmpfs", "/run")):
    os.makedirs(target, exist_ok=True)
    if libc.mount(fs.encode(), target.encode(), fs.encode(), 0, None) != 0 and ctypes.get_errno() != 16:  # (EBUSY: the initramfs moved it here)
        print(f"mount {target}: {os.strerror(ctypes.get_errno())}")
libc.sethostname(b"sysemu-aarch64", 14)
MOUNTS
ip link set lo up
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
cd /project
echo "== inside: $(uname -srm), $(nproc) CPUs, $(python3 --version), $(cut -d" " -f1 /proc/uptime) s after boot"
start=$(date +%s)
PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/wheels ./setup.sh 2>&1 | sed -u 's/^/setup: /'
[ "${PIPESTATUS[0]}" -eq 0 ] || echo "== setup.sh failed"
echo "== setup.sh took $(( $(date +%s) - start )) s"
start=$(date +%s)
eval "set -- $(cat .vm-pytest-args)"
. ./.vm-env
# Emulated, a test takes 10-50 times as long: its timeout (pyproject.toml: 120 s) grows too.
.venv/bin/python -m pytest -q -p no:cacheprovider --timeout=900 "$@" 2>&1 | tee /tmp/pytest.log
echo "== pytest took $(( $(date +%s) - start )) s"
sync
echo o >/proc/sysrq-trigger
sleep 30
EOF
    chmod 755 "$root/sbin/sysemu-vm-init"
    local used; used=$(du -sm "$root" | cut -f1)
    mke2fs -q -t ext4 -d "$root" -L sysemu-root "$disk" "$(( used + 3072 ))M" ||
        fail "mke2fs -d failed"
}

build_image
download_wheels
[ "$build_only" -eq 1 ] && { echo "== image and wheels ready in $cache"; exit 0; }

work=$(mktemp -d /var/tmp/sysemu-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
make_disk "$work/root" "$work/disk.img"
kernel=$(ls "$work"/root/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$work"/root/boot/initrd.img-* | sort -V | tail -n 1)
cp "$kernel" "$work/vmlinuz"; cp "$initrd" "$work/initrd.img"
rm -rf "$work/root"

echo "== booting qemu-system-aarch64 -M virt -cpu max (TCG); console log: $cache/console.log"
start=$(now)
status=0
# pauth-impdef: the implementation-defined pointer authentication, cheap to emulate; the
# architected QARMA algorithm costs TCG a large share of its time in every function return.
nice -n 19 timeout "$timeout_s" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -smp 2 -m "$memory" \
    -accel tcg,thread=multi -nographic -no-reboot -nic none \
    -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
    -append "root=/dev/vda rw console=ttyAMA0 loglevel=4 panic=-1 init=/sbin/sysemu-vm-init" \
    -drive "file=$work/disk.img,format=raw,if=virtio" </dev/null >"$cache/console.log" 2>&1 ||
    status=$?
tr -d '\r' <"$cache/console.log" | grep -E '^== |passed|failed|error' | grep -v '^\[' || true
echo "== machine ran $(( $(now) - start )) s (qemu exit status $status)"
summary=$(tr -d '\r' <"$cache/console.log" | grep -E '^=*.*[0-9]+ (passed|failed|error)' | tail -n 1)
[ -n "$summary" ] || fail "no pytest summary: see $cache/console.log"
case $summary in *failed*|*error*) exit 1 ;; esac
