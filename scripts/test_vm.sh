#!/usr/bin/env bash
# Run sysemu's test suite inside an emulated machine: a real arm64 kernel, or one of Debian's
# x86-64 kernels, on an x86-64 Debian host.
#
#   scripts/test_vm.sh [--arch aarch64|x86_64] [--kernel 5.10|6.1|6.12|backports]
#                      [--accel auto|kvm|tcg]
#                      [--smoke] [--build-only] [--env NAME=VALUE]... [-- PYTEST_ARGS...]
#
# Builds (once, then cached) a Debian bookworm system for the architecture from Debian's
# packages with mmdebstrap (arm64 package scripts run under qemu-user through binfmt_misc),
# with what setup.sh installs; downloads the Python wheels setup.sh installs (once, cached) so
# that the machine needs no network; copies this work tree onto a fresh disk; boots it and,
# inside, runs ./setup.sh, prints `sysemu doctor`, runs pytest (the whole suite, the smoke
# subset with --smoke, the arguments after --, or both), and prints pytest's summary.
#   aarch64 (the default): the image's own kernel (6.1), qemu-system-aarch64 -M virt -cpu max
#     (TCG: emulated, 10-50x slower than native); or the kernel --kernel names, as on x86_64.
#   x86_64: the kernel --kernel names (default 5.10), the newest of Debian's cloud kernels of
#     that series (bullseye's 5.10, bookworm's 6.1, trixie's 6.12; backports: the newest of
#     trixie-backports, 7.3 on 2026-12-07), downloaded once, booted with qemu-system-x86_64 and
#     a small initramfs that loads its virtio modules. --accel auto uses KVM where a probe boot
#     reaches init, TCG elsewhere.
# pytest runs with -q -rfEs --timeout=900, then the arguments after -- (--timeout=300 wins;
# another -q would hide pytest's closing counts line).
# Everything emulated runs under nice -n 19. --env sets a variable for pytest inside
# (SYSEMU_NO_SPEEDUPS=1: the Python loops, not the C ones; SYSEMU_TEST_TIME_SCALE, by how much
# the tests' hang limits grow: 10 under TCG, 1 under KVM).
#
# Environment: SYSEMU_VM_CACHE (default ~/.cache/sysemu-vm), SYSEMU_VM_TIMEOUT (seconds the
# machine may run, default 10800), SYSEMU_VM_MEMORY (MiB, default 4096).
# Needs root (mmdebstrap's root mode, binfmt_misc, mke2fs -d keeping owners) and the Debian
# packages mmdebstrap e2fsprogs python3-pip, with qemu-user-static qemu-system-arm for aarch64
# and qemu-system-x86 kmod for x86_64.
#
# Exit status (each failure is also one line on stderr, "test_vm: ..."):
#   0  pytest passed in the machine (setup.sh too).
#   2  a wrong option.
#   3  the project failed: setup.sh failed inside the machine, or pytest did not pass (tests
#      failed, errors, or no test ran).
#   4  a problem outside the project: a missing host tool or root, a failed download, image
#      build or disk, a machine that did not boot or stopped before pytest ended, or the
#      machine's timeout (SYSEMU_VM_TIMEOUT).
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD

arch=aarch64
kernel_series=
accel=auto
suite=bookworm
timeout_s=${SYSEMU_VM_TIMEOUT:-10800}
memory=${SYSEMU_VM_MEMORY:-4096}
cache_root=${SYSEMU_VM_CACHE:-$HOME/.cache/sysemu-vm}
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
        --arch) arch=$2; shift 2 ;;
        --kernel) kernel_series=$2; shift 2 ;;
        --accel) accel=$2; shift 2 ;;
        --smoke) pytest_args=("${smoke_tests[@]}"); shift ;;
        --build-only) build_only=1; shift ;;
        --env) vm_env+=("$2"); shift 2 ;;
        --) shift; pytest_args+=("$@"); break ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
        *) echo "test_vm: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

# Every exit goes through one of these; anything else that stops the script (a command failing
# under set -e) is a problem outside the project too, and exits 4 from the EXIT trap.
finished=
finish() { finished=1; exit "$1"; }
usage() { echo "test_vm: $*" >&2; finish 2; }
fail() { echo "test_vm: $*" >&2; finish 4; }          # outside the project
project_failed() { echo "test_vm: $*" >&2; finish 3; }  # the project's own failure
work=
on_exit() {
    local status=$?
    [ -z "$work" ] || rm -rf "$work"
    if [ -z "$finished" ] && [ "$status" -ne 0 ]; then
        echo "test_vm: stopped by a failed command (status $status), see above" >&2
        exit 4
    fi
}
trap on_exit EXIT
# A signal to the script (kill, a CI stopping its job) reaches the long steps too. They run in
# the background under `wait`, which a trapped signal interrupts: a command in the foreground
# would hold the trap until it ended, and with no trap bash would die and leave mmdebstrap or
# qemu running.
child=
on_signal() {
    trap - INT TERM HUP
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    echo "test_vm: stopped by a signal" >&2
    finish 130
}
trap on_signal INT TERM HUP
until_done() {  # until_done OUTPUT COMMAND...: a long step, stdin empty, its output to OUTPUT
    local output=$1
    shift
    "$@" </dev/null >"$output" 2>&1 &
    child=$!
    local status=0
    wait "$child" || status=$?
    child=
    return "$status"
}
now() { date +%s; }
need() {  # need TOOL... -- PACKAGES: one line naming the packages when a tool is missing
    local tools=() tool
    while [ "$1" != -- ]; do tools+=("$1"); shift; done
    shift
    for tool in "${tools[@]}"; do
        command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null ||
            fail "missing $tool: apt-get install $*"
    done
}

# Packages of the image: what setup.sh installs (read from it), Python's headers and venv.
mapfile -t setup_packages < <(sed -n 's/^apt_packages=(\(.*\))$/\1/p' setup.sh | tr ' ' '\n')
packages=python3,python3-dev,python3-venv,procps,iproute2,ca-certificates
packages+=,$(IFS=,; echo "${setup_packages[*]}")
case $arch in
    aarch64)
        debian_arch=arm64 wheel_arch=aarch64 console=ttyAMA0
        packages+=,linux-image-arm64
        case $kernel_series in
            ''|5.10|6.1|6.12|backports) ;;
            *) usage "--kernel takes 5.10, 6.1, 6.12 or backports (Debian's bullseye, bookworm, trixie, trixie-backports)" ;;
        esac
        need mmdebstrap qemu-system-aarch64 qemu-aarch64-static mke2fs -- \
            mmdebstrap qemu-user-static qemu-system-arm e2fsprogs
        [ -z "$kernel_series" ] || need depmod modprobe -- kmod
        ;;
    x86_64)
        debian_arch=amd64 wheel_arch=x86_64 console=ttyS0
        # kmod: the kernel loads its modules on demand through /sbin/modprobe (strace -yy's
        # socket details need inet_diag, tcp_diag and unix_diag, modules in Debian's kernels).
        packages+=,gcc-multilib,busybox-static,kmod
        kernel_series=${kernel_series:-5.10}
        case $kernel_series in
            5.10|6.1|6.12|backports) ;;
            *) usage "--kernel takes 5.10, 6.1, 6.12 or backports (Debian's bullseye, bookworm, trixie, trixie-backports)" ;;
        esac
        need mmdebstrap qemu-system-x86_64 mke2fs depmod modprobe -- \
            mmdebstrap qemu-system-x86 e2fsprogs kmod
        ;;
    *) usage "--arch takes aarch64 or x86_64" ;;
esac
[ "$(id -u)" -eq 0 ] || fail "needs root (mmdebstrap, binfmt_misc, disk image owners)"
python3 -m pip --version >/dev/null 2>&1 || fail "missing pip: apt-get install python3-pip"
cache=$cache_root/$arch-$suite
mkdir -p "$cache"
# One run at a time per image: a second one would rebuild the image under the first, and its
# qemu would truncate the console log the first one is writing.
exec 9>"$cache/lock"
flock -n 9 || fail "another test_vm.sh is using $cache (its lock: $cache/lock)"

# arm64's initramfs comes from the image's initramfs-tools and only needs to find the virtio
# disk: building it with every module, under qemu-user, would take most of the image's build.
initramfs_hook=
if [ "$arch" = aarch64 ]; then
    initramfs_hook='mkdir -p "$1/usr/share/initramfs-tools/modules.d" "$1/etc/initramfs-tools/conf.d"
printf "virtio_mmio\nvirtio_pci\nvirtio_blk\next4\n" > "$1/usr/share/initramfs-tools/modules.d/sysemu-vm"
printf "MODULES=list\nCOMPRESS=gzip\n" > "$1/etc/initramfs-tools/conf.d/sysemu-vm"'
fi
stamp="$suite $packages $(printf %s "$initramfs_hook" | sha256sum | cut -c1-16)"

build_image() {
    mkdir -p "$cache"
    if [ -f "$cache/root.tar" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; then
        return
    fi
    local hook=()
    if [ "$arch" = aarch64 ]; then
        if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
            mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
                fail "cannot mount binfmt_misc (needed to run arm64 package scripts)"
        fi
        if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
            update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 ||
                fail "cannot register qemu-aarch64 with binfmt_misc (update-binfmts --enable qemu-aarch64)"
        fi
        hook=(--essential-hook="$initramfs_hook")
    fi
    echo "== building the $debian_arch image in $cache (once)"
    local start; start=$(now)
    rm -f "$cache/root.tar" "$cache/stamp"
    until_done "$cache/build.log" nice -n 19 mmdebstrap --arch="$debian_arch" --variant=apt \
        --format=tar --include="$packages" "${hook[@]}" "$suite" "$cache/root.tar.part" ||
        fail "mmdebstrap failed: see $cache/build.log"
    mv "$cache/root.tar.part" "$cache/root.tar"
    echo "$stamp" >"$cache/stamp"
    echo "== image built in $(( $(now) - start )) s"
}

download_wheels() {
    local want; want=$(cat pyproject.toml bench/requirements.txt | sha256sum | cut -c1-16)
    if [ "$(cat "$cache/wheels/stamp" 2>/dev/null)" = "$want" ]; then return; fi
    echo "== downloading the $wheel_arch wheels setup.sh installs"
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
        --platform "manylinux2014_$wheel_arch" --platform "manylinux_2_17_$wheel_arch" \
        --platform "manylinux_2_28_$wheel_arch" --platform "linux_$wheel_arch" --platform any \
        --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
        pip "setuptools>=77" wheel "${dev[@]}" -r bench/requirements.txt \
        >"$cache/wheels.log" 2>&1 || fail "pip download failed: see $cache/wheels.log"
    echo "$want" >"$cache/wheels/stamp"
}

# Debian's apt, pointed at private lists, so that the host's own apt setup is left alone.
kernel_apt() {
    local tool=$1; shift
    local dir=$cache_root/$arch-apt
    "$tool" -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
        -o APT::Architecture="$debian_arch" -o APT::Architectures="$debian_arch" "$@"
}

# The newest cloud kernel of the series: its vmlinuz, its modules, and an initramfs of
# Debian's static busybox and the modules that reach the virtio disk (ext4 is built into the
# kernel).
fetch_kernel() {
    local kdir=$cache_root/$arch-kernel-$kernel_series
    if [ -f "$kdir/initrd.img" ]; then return; fi
    local dir=$cache_root/$arch-apt
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    local d=http://deb.debian.org/debian s=http://deb.debian.org/debian-security suite_of
    {
        for suite_of in bullseye bookworm trixie; do
            echo "deb $d $suite_of main"; echo "deb $s $suite_of-security main"
        done
        echo "deb $d trixie-backports main"
    } >"$dir/sources.list"
    echo "== downloading Debian's $kernel_series cloud kernel for $debian_arch"
    kernel_apt apt-get update >"$dir/update.log" 2>&1 || fail "apt-get update failed: see $dir/update.log"
    local meta=linux-image-cloud-$debian_arch version
    if [ "$kernel_series" = backports ]; then
        version=$(kernel_apt apt-cache madison "$meta" | awk '$6 ~ /-backports\// {print $3}' |
            sort -V | tail -n 1)
    else
        version=$(kernel_apt apt-cache madison "$meta" | awk '{print $3}' |
            grep "^$kernel_series\." | sort -V | tail -n 1)
    fi
    [ -n "$version" ] || fail "no $meta $kernel_series in Debian's lists"
    # The versioned image package, and (since 7.x) the packages it is split into: the kernel
    # itself (linux-binary-*) and its modules (linux-modules-*).
    # (Each answer is read whole first: a reader that stops early would end apt-cache with
    # SIGPIPE, a failure under pipefail.)
    local image packages=() shown
    shown=$(kernel_apt apt-cache show "$meta=$version")
    image=$(sed -n '/^Depends:/{p;q}' <<<"$shown" | grep -oE 'linux-image-[0-9][^ ,]*' || true)
    [ -n "$image" ] || fail "$meta $version names no kernel package"
    packages=("$image")
    shown=$(kernel_apt apt-cache show "$image=$version")
    packages+=($(sed -n '/^Depends:/{p;q}' <<<"$shown" |
        grep -oE 'linux-(binary|modules)-[0-9][^ ,]*' | sort -u || true))
    rm -rf "$kdir"; mkdir -p "$kdir/deb" "$kdir/initramfs/bin" "$kdir/initramfs/lib"
    (cd "$kdir/deb" && kernel_apt apt-get download "${packages[@]/%/=$version}" \
        busybox-static/bookworm >/dev/null 2>&1) ||
        fail "cannot download ${packages[*]} busybox-static"
    local deb
    for deb in "$kdir"/deb/linux-*.deb; do dpkg-deb -x "$deb" "$kdir/root"; done
    dpkg-deb -x "$kdir"/deb/busybox-static_*.deb "$kdir/busybox"
    # trixie's packages put the modules under /usr/lib, older ones under /lib.
    if [ -d "$kdir/root/usr/lib/modules" ]; then
        mkdir -p "$kdir/root/lib"; mv "$kdir/root/usr/lib/modules" "$kdir/root/lib/"
    fi
    local release; release=$(basename "$(ls -d "$kdir"/root/lib/modules/*)")
    depmod -b "$kdir/root" "$release"
    local module
    : >"$kdir/initramfs/modules"
    for module in $(modprobe -d "$kdir/root" -S "$release" --show-depends -a virtio_pci virtio_blk |
        awk '$1 == "insmod" && !seen[$2]++ {print $2}'); do
        case $module in
            *.xz) xz -dc "$module" ;;
            *.zst) zstd -qdc "$module" ;;
            *) cat "$module" ;;
        esac >"$kdir/initramfs/lib/$(basename "${module%.xz}" .zst)"
        basename "${module%.xz}" .zst >>"$kdir/initramfs/modules"
    done
    cp "$kdir/busybox/bin/busybox" "$kdir/initramfs/bin/busybox"
    cat >"$kdir/initramfs/init" <<'EOF'
#!/bin/busybox sh
# Load the virtio modules, mount the disk and hand over to it.
/bin/busybox --install -s /bin
mkdir -p /proc /dev /newroot
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
for module in $(cat /modules); do insmod "/lib/$module"; done
for attempt in $(seq 100); do [ -b /dev/vda ] && break; sleep 0.1; done
mount -t ext4 /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; poweroff -f; }
init=$(sed -n 's/.*init=\([^ ]*\).*/\1/p' /proc/cmdline)
umount /proc
mount --move /dev /newroot/dev
exec switch_root /newroot "${init:-/sbin/init}"
EOF
    chmod 755 "$kdir/initramfs/init"
    # A cpio archive ("newc") written by the host's Python: the busybox may be another
    # architecture's, and the host may have no cpio.
    python3 - "$kdir/initramfs" <<'NEWC' | gzip -1 >"$kdir/initrd.img.part"
import os, sys
root, out = sys.argv[1], sys.stdout.buffer
def entry(name, mode, data=b"", ino=0):
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
    header = b"070701" + b"".join(b"%08X" % field for field in fields) + name.encode() + b"\0"
    out.write(header + b"\0" * (-len(header) % 4) + data + b"\0" * (-len(data) % 4))
ino = 0
for directory, subdirectories, files in os.walk(root):
    subdirectories.sort()
    for name in [""] * (directory == root) + sorted(subdirectories) + sorted(files):
        path = os.path.join(directory, name)
        ino += 1
        relative = os.path.relpath(path, root)
        info = os.lstat(path)
        data = b""
        if os.path.islink(path):
            data = os.readlink(path).encode()
        elif os.path.isfile(path):
            data = open(path, "rb").read()
        entry(relative, info.st_mode, data, ino)
entry("TRAILER!!!", 0)
NEWC
    # The kernel: /boot/vmlinuz-* in older packages, /lib/modules/RELEASE/vmlinuz since 7.x.
    local vmlinuz
    vmlinuz=$(ls "$kdir"/root/boot/vmlinuz-* "$kdir/root/lib/modules/$release/vmlinuz" 2>/dev/null || true)
    vmlinuz=${vmlinuz%%$'\n'*}
    [ -n "$vmlinuz" ] || fail "no vmlinuz in ${packages[*]}"
    cp "$vmlinuz" "$kdir/vmlinuz"
    rm -rf "$kdir/deb" "$kdir/busybox" "$kdir/root/boot" "$kdir/root/lib/modules/$release/vmlinuz"
    mv "$kdir/initrd.img.part" "$kdir/initrd.img"
}

# KVM where the host's nested virtualisation runs the kernel to its init (some hypervisors
# accept KVM_CREATE_VM yet hang the guest early or refuse an MSR with -cpu host); the answer is
# cached per host kernel and qemu.
choose_x86_accel() {
    if [ "$accel" != auto ]; then echo "$accel"; return; fi
    local kdir=$cache_root/x86_64-kernel-$kernel_series
    local key; key="$(uname -r) $(qemu-system-x86_64 --version | head -n 1)"
    local answer=$cache_root/x86_64-kvm-probe
    if [ "$(head -n 1 "$answer" 2>/dev/null)" = "$key" ]; then tail -n 1 "$answer"; return; fi
    local verdict=tcg
    if [ -w /dev/kvm ] && timeout 30 qemu-system-x86_64 -accel kvm -cpu host,-arch-capabilities \
        -m 512 -nographic -no-reboot -nic none -kernel "$kdir/vmlinuz" -initrd "$kdir/initrd.img" \
        -append "console=ttyS0 panic=-1 loglevel=4 init=/no-such-init" </dev/null 2>&1 |
        grep -q 'cannot mount /dev/vda'; then
        verdict=kvm
    fi
    printf '%s\n%s\n' "$key" "$verdict" >"$answer"
    echo "$verdict"
}

make_disk() {
    local root=$1 disk=$2
    echo "== making the disk (image, wheels, this work tree)"
    mkdir -p "$root"
    tar -C "$root" -xf "$cache/root.tar"
    mkdir -p "$root/opt/wheels" "$root/project"
    cp "$cache"/wheels/*.whl "$root/opt/wheels/"
    if [ -n "$kernel_series" ]; then
        cp -a "$cache_root/$arch-kernel-$kernel_series"/root/lib/modules "$root/usr/lib/"
    fi
    # The work tree as git sees it (tracked and untracked files, no build products).
    git ls-files -z --cached --others --exclude-standard |
        tar -C "$project" --null -T - -cf - | tar -C "$root/project" -xf -
    printf '%q ' "${pytest_args[@]}" >"$root/project/.vm-pytest-args"
    # How much longer than on a real machine a test's hang limits are (tests/conftest.py):
    # emulated (TCG), programs run 10-50 times slower. --env can set it too, and wins.
    local scale=1
    [ "$arch" = aarch64 ] || [ "$(choose_x86_accel)" = tcg ] && scale=10
    echo "export SYSEMU_TEST_TIME_SCALE=$scale" >"$root/project/.vm-env"
    [ ${#vm_env[@]} -eq 0 ] || printf 'export %q\n' "${vm_env[@]}" >>"$root/project/.vm-env"
    echo "sysemu-$arch" >"$root/etc/hostname"
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
name = open("/etc/hostname", "rb").read().strip()
libc.sethostname(name, len(name))
MOUNTS
# What udev makes on a booted system: /dev/fd and the standard streams (devtmpfs has none).
ln -sfn /proc/self/fd /dev/fd
for n in 0:stdin 1:stdout 2:stderr; do ln -sfn "/proc/self/fd/${n%%:*}" "/dev/${n#*:}"; done
ip link set lo up
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
cd /project
echo "== inside: $(uname -srm), $(nproc) CPUs, $(python3 --version), $(cut -d" " -f1 /proc/uptime) s after boot"
start=$(date +%s)
PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/wheels ./setup.sh 2>&1 | sed -u 's/^/setup: /'
setup_status=${PIPESTATUS[0]}
[ "$setup_status" -eq 0 ] || echo "== setup.sh failed with exit status $setup_status"
echo "== setup.sh took $(( $(date +%s) - start )) s"
.venv/bin/sysemu doctor 2>&1 | sed -u 's/^/doctor: /'
start=$(date +%s)
eval "set -- $(cat .vm-pytest-args)"
. ./.vm-env
# Emulated, a test takes 10-50 times as long: its timeout (pyproject.toml: 120 s) grows too.
.venv/bin/python -m pytest -q -p no:cacheprovider -rfEs --timeout=900 "$@" 2>&1 | tee /tmp/pytest.log
pytest_status=${PIPESTATUS[0]}
echo "== pytest took $(( $(date +%s) - start )) s"
echo "== pytest exit status $pytest_status"
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
[ -z "$kernel_series" ] || fetch_kernel
[ "$build_only" -eq 1 ] && { echo "== image, wheels and kernel ready under $cache_root"; finish 0; }

work=$(mktemp -d /var/tmp/sysemu-vm.XXXXXX)
make_disk "$work/root" "$work/disk.img"
if [ "$arch" = aarch64 ]; then
    if [ -n "$kernel_series" ]; then
        cp "$cache_root/aarch64-kernel-$kernel_series"/{vmlinuz,initrd.img} "$work/"
    else
        cp "$(ls "$work"/root/boot/vmlinuz-* | sort -V | tail -n 1)" "$work/vmlinuz"
        cp "$(ls "$work"/root/boot/initrd.img-* | sort -V | tail -n 1)" "$work/initrd.img"
    fi
    # pauth-impdef: the implementation-defined pointer authentication, cheap to emulate; the
    # architected QARMA algorithm costs TCG a large share of its time in every function return.
    machine=(qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -accel tcg,thread=multi)
    log=$cache/console${kernel_series:+-$kernel_series}.log
else
    kdir=$cache_root/x86_64-kernel-$kernel_series
    cp "$kdir/vmlinuz" "$kdir/initrd.img" "$work/"
    # Under TCG 5.10 finds the TSC unstable and falls back to the HPET, which its vDSO cannot
    # read: every clock_gettime is then a system call, unlike on real machines.
    console+=" tsc=reliable"
    case $(choose_x86_accel) in
        kvm) machine=(qemu-system-x86_64 -accel kvm -cpu host,-arch-capabilities) ;;
        *) machine=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max) ;;
    esac
    log=$cache/console-$kernel_series.log
fi
rm -rf "$work/root"

echo "== booting ${machine[*]}; console log: $log"
start=$(now)
status=0
until_done "$log" nice -n 19 timeout "$timeout_s" "${machine[@]}" -smp 2 -m "$memory" \
    -nographic -no-reboot -nic none -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
    -append "root=/dev/vda rw console=$console loglevel=4 panic=-1 init=/sbin/sysemu-vm-init" \
    -drive "file=$work/disk.img,format=raw,if=virtio" ||
    status=$?
# (The firmware's screen codes can precede the first line of the machine on the same line.)
# (grep -a: a test's output can put any byte on the console.)
tr -d '\r' <"$log" | sed 's/^.*\(== inside: \)/\1/' |
    grep -a -E '^(== |doctor: |initramfs: )|passed|failed|error' | grep -a -v '^\[' || true
echo "== machine ran $(( $(now) - start )) s (qemu exit status $status)"
seen() { tr -d '\r' <"$log" | grep -a -oE "$1" | tail -n 1 || true; }
pytest_status=$(seen '== pytest exit status [0-9]+' | grep -oE '[0-9]+$' || true)
if [ -z "$pytest_status" ]; then
    [ "$status" -ne 124 ] || fail "the machine ran past its timeout ($timeout_s s, SYSEMU_VM_TIMEOUT): see $log"
    [ -n "$(seen '== inside: ')" ] || fail "the machine did not boot to its init (qemu exit status $status): see $log"
    [ -z "$(seen '== setup.sh failed')" ] || project_failed "setup.sh failed inside the machine: see $log"
    fail "the machine stopped before pytest ended (qemu exit status $status): see $log"
fi
[ -z "$(seen '== setup.sh failed')" ] || project_failed "setup.sh failed inside the machine: see $log"
summary=$(tr -d '\r' <"$log" | grep -a -E '^=*.*[0-9]+ (passed|failed|error|skipped|deselected)|no tests ran' |
    tail -n 1 | sed 's/^=* *//; s/ *=*$//' || true)
[ "$pytest_status" -eq 0 ] || project_failed "pytest exited with status $pytest_status: ${summary:-no summary}, see $log"
finish 0
