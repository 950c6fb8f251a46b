/*
 * realloc_read_loop.c - the common way to read a whole file: grow the
 * buffer by a page before every read, `buf = realloc(buf, len + 4096)`.
 *
 * Over an 8 MB file that is 2,000 reallocs of a block that ends up 8 MB
 * big.  An allocator that copied the whole block on every one would copy
 * 8 GB; it must not (check mode included).  Prints the length and a
 * checksum of what was read, which depend only on the file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    char *buf = NULL;
    size_t len = 0;
    for (;;) {
        char *grown = realloc(buf, len + 4096);
        if (!grown) {
            printf("realloc(%zu) failed\n", len + 4096);
            return 1;
        }
        buf = grown;
        ssize_t got = read(fd, buf + len, 4096);
        if (got < 0) {
            perror("read");
            return 2;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    unsigned long sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = sum * 31 + (unsigned char)buf[i];
    printf("read %zu bytes, checksum %lx\n", len, sum);
    free(buf);
    return 0;
}
