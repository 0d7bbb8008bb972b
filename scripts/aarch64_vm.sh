#!/usr/bin/env bash
# Run sysemu's test suite on a real aarch64 Linux kernel: scripts/test_vm.sh --arch aarch64
# (see its --help). Kept for the commands already written down.
exec "$(dirname "$0")/test_vm.sh" --arch aarch64 "$@"
