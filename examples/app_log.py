"""A small program that writes a log file and reports progress on stdout.

Used by the fault-injection examples: under ``--inject 'write:error=ENOSPC:fdpath=*/app.log'``
its log writes fail with "No space left on device" while stdout keeps working, and it must
say so and exit 1.

    python3 examples/app_log.py /tmp/app.log
"""

import sys


def main(log_path: str) -> int:
    """Write three log lines, flushing each; report on stdout; exit 1 if the disk is full."""
    try:
        with open(log_path, "w", buffering=1) as log:
            for step in range(3):
                print(f"doing step {step}", flush=True)
                log.write(f"step {step}\n")
    except OSError as error:
        print(f"app: cannot write the log: {error.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
