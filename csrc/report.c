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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void report_write(int fd, const char *buf, size_t len)
{
    int saved_errno = errno;
    while (len) {
        /* The system call itself, not write(), which is a cancellation
         * point: a misuse report must reach abort() even in a thread with
         * a cancellation pending, as glibc's own fatal messages do. */
        ssize_t n = syscall(SYS_write, fd, buf, len);
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

void report_expand_path(const char *template, char *out, size_t cap)
{
    hmm_text t;
    text_init(&t, out, cap);
    char one[2] = {0, 0};
    for (const char *c = template; *c; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            text_uint(&t, (uint64_t)getpid());
            c++;
        } else {
            if (c[0] == '%' && c[1] == '%')
                c++;
            one[0] = *c;
            text_str(&t, one);
        }
    }
}

/*
 * Where a report for stderr goes.
 *
 * Many programs close stderr on their way out (coreutils' close_stdout
 * does), before our destructor runs, so we keep a copy of it from the start,
 * high up and close-on-exec so that the program and its children never see
 * it.  But a number is only a number: a daemon closes every descriptor it
 * did not open and opens files of its own, one of which may get our copy's
 * number, and a program started with stderr closed gets descriptor 2 for the
 * first file it opens.  A report written there would corrupt the program's
 * file.  So each descriptor we may write to at exit is remembered with the
 * file it refers to (device and inode) and its flags, and is used only if it
 * still refers to that file; with neither usable, the report is not written
 * (HMM_STATS=PATH does not depend on any descriptor).
 */
#define REPORT_FD_MIN 200

typedef struct report_target {
    int fd;          /* -1: nothing to write to */
    dev_t dev;
    ino_t ino;
    int fd_flags;    /* F_GETFD: FD_CLOEXEC, which a reused number rarely has */
    int access_mode; /* F_GETFL & O_ACCMODE */
} report_target;

static report_target stderr_copy = {.fd = -1};   /* our duplicate, >= 200 */
static report_target stderr_itself = {.fd = -1}; /* descriptor 2 */

static void remember(report_target *target, int fd)
{
    struct stat st;
    int fd_flags = fcntl(fd, F_GETFD);
    int status_flags = fcntl(fd, F_GETFL);
    if (fd_flags < 0 || status_flags < 0 || fstat(fd, &st) != 0)
        return; /* closed: nothing to remember, nothing to write to */
    target->dev = st.st_dev;
    target->ino = st.st_ino;
    target->fd_flags = fd_flags;
    target->access_mode = status_flags & O_ACCMODE;
    target->fd = fd;
}

static int still_the_same(const report_target *target)
{
    struct stat st;
    if (target->fd < 0 || fstat(target->fd, &st) != 0)
        return 0;
    return st.st_dev == target->dev && st.st_ino == target->ino &&
           fcntl(target->fd, F_GETFD) == target->fd_flags &&
           (fcntl(target->fd, F_GETFL) & O_ACCMODE) == target->access_mode;
}

/* The stderr of start-up, if a descriptor still leads to it; else -1. */
static int stderr_at_exit(void)
{
    if (still_the_same(&stderr_copy))
        return stderr_copy.fd;
    if (still_the_same(&stderr_itself))
        return stderr_itself.fd;
    return -1;
}

void report_prepare(void)
{
    if (!option_value(OPTION_STATS))
        return;
    int saved_errno = errno;
    remember(&stderr_itself, STDERR_FILENO);
    /* The copy costs a descriptor: only when the report goes to stderr. */
    if (stderr_itself.fd >= 0 && option_switch(OPTION_STATS) == 1) {
        int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, REPORT_FD_MIN);
        if (fd >= 0)
            remember(&stderr_copy, fd);
    }
    errno = saved_errno;
}

void report_stats_as_configured(const struct hmm_stats *stats, const char *policy, int check_level)
{
    const char *where = option_value(OPTION_STATS);
    int to_stderr = option_switch(OPTION_STATS);
    if (!where || to_stderr == 0)
        return;
    int saved_errno = errno;
    if (to_stderr == 1) {
        int fd = stderr_at_exit();
        if (fd >= 0)
            report_stats(stats, policy, check_level, fd);
        errno = saved_errno;
        return;
    }
    char path[PATH_MAX];
    report_expand_path(where, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        report_stats(stats, policy, check_level, fd);
        close(fd);
    } else {
        static const char msg[] = "hmm: HMM_STATS: cannot write the stats file\n";
        int err = stderr_at_exit();
        if (err >= 0)
            report_write(err, msg, sizeof msg - 1);
    }
    errno = saved_errno;
}

void report_line(const char *first, ...)
{
    char line[512];
    hmm_text t;
    text_init(&t, line, sizeof line - 1); /* room for the newline, even when cut */
    text_str(&t, "hmm: ");
    va_list parts;
    va_start(parts, first);
    for (const char *part = first; part; part = va_arg(parts, const char *))
        text_str(&t, part);
    va_end(parts);
    line[t.len++] = '\n';
    report_write(STDERR_FILENO, line, t.len);
}
