/* report.c - see report.h. */
#define _GNU_SOURCE
#include "report.h"

#include "format.h"
#include "hmm.h"
#include "options.h"
#include "stats.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

void report_write(int fd, const char *buf, size_t len)
{
    int saved_errno = errno;
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf += n;
        len -= (size_t)n;
    }
    errno = saved_errno;
}

void report_stats(const struct hmm_stats *stats, const char *policy, int check_level, int fd)
{
    char line[128];
    hmm_text t;
    text_init(&t, line, sizeof line);
    text_str(&t, "hmm: pid ");
    text_uint(&t, (uint64_t)getpid());
    text_str(&t, "\nhmm: policy ");
    text_str(&t, policy);
    text_str(&t, "\nhmm: check ");
    text_uint(&t, (uint64_t)check_level);
    text_str(&t, "\n");
    report_write(fd, line, t.len);
    for (int i = 0; i < hmm_stats_count(); i++) {
        text_init(&t, line, sizeof line);
        text_str(&t, "hmm: ");
        text_str(&t, hmm_stats_name(i));
        text_str(&t, " ");
        text_uint(&t, hmm_stats_value(stats, i));
        text_str(&t, "\n");
        report_write(fd, line, t.len);
    }
}

/* Expand %p in the template to the pid. */
static void expand_path(const char *template, char *out, size_t cap)
{
    hmm_text t;
    text_init(&t, out, cap);
    char one[2] = {0, 0};
    for (const char *c = template; *c; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            text_uint(&t, (uint64_t)getpid());
            c++;
        } else {
            one[0] = *c;
            text_str(&t, one);
        }
    }
}

/*
 * Where "HMM_STATS=1" writes.  Many programs close stderr on their way out
 * (coreutils' close_stdout does), before our destructor runs, so we keep a
 * copy of it from the start, high up and close-on-exec so that the program
 * and its children never see it.
 */
#define REPORT_FD_MIN 200
static int report_fd = STDERR_FILENO;

void report_prepare(void)
{
    const char *where = option_value(OPTION_STATS);
    if (where && strcmp(where, "1") == 0) {
        int saved_errno = errno;
        int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, REPORT_FD_MIN);
        if (fd >= 0)
            report_fd = fd;
        errno = saved_errno;
    }
}

void report_stats_as_configured(const struct hmm_stats *stats, const char *policy, int check_level)
{
    const char *where = option_value(OPTION_STATS);
    if (!where || strcmp(where, "0") == 0)
        return;
    if (strcmp(where, "1") == 0) {
        report_stats(stats, policy, check_level, report_fd);
        return;
    }
    char path[PATH_MAX];
    expand_path(where, path, sizeof path);
    int saved_errno = errno;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        report_stats(stats, policy, check_level, fd);
        close(fd);
    } else {
        static const char msg[] = "hmm: HMM_STATS: cannot write the stats file\n";
        report_write(STDERR_FILENO, msg, sizeof msg - 1);
    }
    errno = saved_errno;
}

void report_line(const char *first, ...)
{
    char line[256];
    hmm_text t;
    text_init(&t, line, sizeof line);
    text_str(&t, "hmm: ");
    va_list parts;
    va_start(parts, first);
    for (const char *part = first; part; part = va_arg(parts, const char *))
        text_str(&t, part);
    va_end(parts);
    text_str(&t, "\n");
    report_write(STDERR_FILENO, line, t.len);
}
