/* Reads standard input to the end, retrying reads that fail with EINTR (and saying so);
 * prints the number of bytes read. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char buffer[4096];
    long total = 0;
    for (;;) {
        ssize_t n = read(0, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            printf("EINTR, retrying\n");
            continue;
        }
        if (n < 0) { perror("read"); return 1; }
        if (n == 0) break;
        total += n;
    }
    printf("read %ld bytes\n", total);
    return 0;
}
