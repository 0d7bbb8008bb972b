#!/usr/bin/env bash
# Sets sysemu up on a fresh Debian machine with Python 3.11+: system packages (a C compiler
# for the test programs and benchmarks, 32-bit support, Go and make for the virtual-time tests,
# sqlite3 and git for the error-path sweep tests, strace, proot and libfaketime for
# comparisons), a virtual environment in .venv with sysemu and its development tools, then
# runs the demo.
set -euo pipefail
cd "$(dirname "$0")"

apt_packages=(gcc libc6-dev strace proot liburing-dev make golang-go faketime sqlite3 git)
if [ "$(uname -m)" = x86_64 ]; then apt_packages+=(gcc-multilib); fi
missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
# Python's headers build sysemu's optional C accelerator (Debian ships them in python3-dev).
include_dir=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if [ ! -f "$include_dir/Python.h" ] && [[ "$include_dir" == /usr/* ]]; then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-dev >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv 2>/dev/null || {
        # Debian's python3 lacks ensurepip until python3-venv is installed.
        sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
        "$python" -m venv .venv
    }
fi
# setuptools 77 or later: pyproject.toml's SPDX `license` string, also for `setup.py build_ext --inplace`.
.venv/bin/python -m pip install -q --upgrade pip "setuptools>=77"
.venv/bin/python -m pip install -q -e '.[dev]' -r bench/requirements.txt

echo "== demo: sysemu run --rules examples/deny_and_fake.py --stats -- sh -c 'cat /etc/hostname; echo \$\$'"
.venv/bin/sysemu run --rules examples/deny_and_fake.py --stats -- sh -c 'cat /etc/hostname; echo $$' || true
