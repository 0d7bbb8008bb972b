/* Every way a program reaches an IPv4 address, one line each: "socket 0", "connect 101"...
 * (0 or the errno). Usage: net_calls A.B.C.D PORT. Built 64-bit and 32-bit: a 32-bit C
 * library may make these calls through socketcall. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void report(const char *what, int result) { printf("%s %d\n", what, result < 0 ? errno : 0); }

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &to.sin_addr);

    int unix_pair[2];
    report("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair));
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    report("socket", udp);
    if (udp < 0)
        return 0;
    char byte = 'x';
    report("sendto", sendto(udp, &byte, 1, 0, (struct sockaddr *)&to, sizeof to));
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr message = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1};
    report("sendmsg", sendmsg(udp, &message, 0));
    struct mmsghdr messages[2] = {{.msg_hdr = message}, {.msg_hdr = message}};
    report("sendmmsg", sendmmsg(udp, messages, 2, 0));
    report("connect", connect(udp, (struct sockaddr *)&to, sizeof to));
    return 0;
}
