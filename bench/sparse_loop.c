/* Makes N intercepted calls with a fixed amount of CPU work between them: sparse stops.
 *
 *   sparse_loop getpid N WORK
 *   sparse_loop openat N WORK PATH
 *   sparse_loop calibrate MICROSECONDS
 *
 * Before each call the program runs a busy loop of WORK iterations (a multiply-add chain the
 * compiler cannot shorten), then makes the call raw: getpid, or openat of PATH (closed again
 * at once). One more call before the loop, untimed, takes a tracer's one-time costs of a first
 * stop out of the numbers. It prints the last getpid result (42424242 when a tracer emulates
 * every getpid), or how many opens succeeded. WORK is a count of iterations, so every run does
 * the same work whatever the machine does meanwhile; "50us" (a number followed by "us")
 * calibrates a count for about that many microseconds first. "calibrate US" prints that count
 * and exits: bench/sparse.py calibrates once and gives every row the same count.
 *
 * A dense loop (getpid_loop) keeps its tracer busy: a stop follows a stop and nobody sleeps.
 * Here the tracer sleeps between stops, so each stop pays the wake-ups of a real program.
 *
 * With LOOP_NS in the environment it also writes "loop ns T" to stderr: the wall time of the
 * whole loop (work and calls) by CLOCK_MONOTONIC, a vDSO read that no tracer sees;
 * "call ns C": the part of T spent inside the calls, from just before each call to just after
 * it; and "call median ns M": the median of those N times. T is what a program pays; C leaves
 * out the work, and so most of the noise a busy machine adds to it, but also any tracer work
 * that competes with the program's own. M is the typical call: a sparse stop's time is spread
 * wide (on a small VM from a plain context switch to a wake-up of a halted virtual CPU, and now
 * and then a millisecond when the host runs something else), so T and C, sums, are moved by a
 * few rare calls that M ignores. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* Kept so that the work has an observable result and is never dropped as dead code. */
static volatile unsigned long sink;

/* `iterations` steps of a 64-bit linear congruential generator: each step needs the previous
 * one's result, so the loop runs at the multiplier's latency on any out-of-order core. */
static unsigned long work(unsigned long iterations, unsigned long x) {
    for (unsigned long i = 0; i < iterations; i++) {
        x = x * 6364136223846793005UL + 1442695040888963407UL;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

/* Iterations of `work` that take about `microseconds` on this machine: the fastest of several
 * timed batches, so that a batch slowed by an interruption does not shorten the count. */
static unsigned long calibrate(double microseconds) {
    const unsigned long batch = 2000000;
    long long best = -1;
    for (int attempt = 0; attempt < 7; attempt++) {
        long long started = now_ns();
        sink = work(batch, sink);
        long long spent = now_ns() - started;
        if (best < 0 || spent < best) best = spent;
    }
    double per_iteration_ns = (double)best / (double)batch;
    unsigned long count = (unsigned long)(microseconds * 1000.0 / per_iteration_ns);
    return count ? count : 1;
}

/* WORK as given: an iteration count, or a duration in microseconds ("50us") to calibrate. */
static unsigned long parse_work(const char *text) {
    char *end;
    double value = strtod(text, &end);
    if (end == text || value < 0) {
        fprintf(stderr, "sparse_loop: WORK must be an iteration count or e.g. 50us, not %s\n",
                text);
        exit(2);
    }
    return strcmp(end, "us") == 0 ? calibrate(value) : (unsigned long)value;
}

static int by_value(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int usage(const char *name) {
    fprintf(stderr,
            "usage: %s getpid N WORK | openat N WORK PATH | calibrate MICROSECONDS\n"
            "  WORK: busy-loop iterations before each call, or e.g. 50us to calibrate\n",
            name);
    return 2;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "calibrate") == 0) {
        printf("%lu\n", calibrate(atof(argv[2])));
        return 0;
    }
    int opens = argc == 5 && strcmp(argv[1], "openat") == 0;
    if (!opens && !(argc == 4 && strcmp(argv[1], "getpid") == 0)) return usage(argv[0]);
    long n = atol(argv[2]), result = 0;
    unsigned long iterations = parse_work(argv[3]), x = (unsigned long)n;
    const char *path = opens ? argv[4] : NULL;
    size_t slots = n > 0 ? (size_t)n : 1;
    long long *call_ns = malloc(slots * sizeof *call_ns);
    if (call_ns == NULL) return 1;
    memset(call_ns, 0xff, slots * sizeof *call_ns); /* its pages faulted in now, not in the loop */
    long warm_up = opens ? syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC)
                         : syscall(SYS_getpid);
    if (opens && warm_up >= 0) syscall(SYS_close, warm_up);
    long long started = now_ns(), in_calls = 0;
    for (long i = 0; i < n; i++) {
        x = work(iterations, x);
        long long call_started = now_ns();
        if (opens) {
            long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                result++;
                syscall(SYS_close, fd);
            }
        } else {
            result = syscall(SYS_getpid);
        }
        call_ns[i] = now_ns() - call_started;
        in_calls += call_ns[i];
    }
    long long spent = now_ns() - started;
    sink = x;
    printf("%ld\n", result);
    if (getenv("LOOP_NS") != NULL) {
        qsort(call_ns, n > 0 ? (size_t)n : 0, sizeof *call_ns, by_value);
        fprintf(stderr, "loop ns %lld\ncall ns %lld\ncall median ns %lld\n", spent, in_calls,
                n > 0 ? call_ns[n / 2] : 0);
    }
    return 0;
}
