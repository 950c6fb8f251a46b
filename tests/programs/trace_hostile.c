/*
 * trace_hostile.c - what a traced program may do to the recorder, that it
 * must survive as glibc does (a review found each of these hanging or
 * crashing it):
 *
 *   handler     a SIGALRM handler that allocates, every 100 µs, while the
 *               program allocates (the handler may land while the thread
 *               takes or gives the tracer's lock, or writes a record)
 *   threads     the same with a second thread, so that the lock is used
 *   coroutine   an allocation on a stack of the program's own (a green
 *               thread's), whose CFI does not lead back to the thread's
 *   fork        fork() from a SIGALRM handler, often inside a traced call;
 *               the children allocate on, then exit
 *
 * Each prints one line that a glibc run prints too.
 *
 * Usage: trace_hostile handler|threads|coroutine|fork
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;         /* the main loop's */
static void *volatile handler_sink; /* the handler's own */
static volatile sig_atomic_t handled, forked_child;

static void allocate_in_handler(int sig)
{
    (void)sig;
    handler_sink = malloc(32);
    free(handler_sink);
    handled = 1;
}

static void fork_in_handler(int sig)
{
    (void)sig;
    if (!forked_child && fork() == 0)
        forked_child = 1;
}

static void tick(void (*handler)(int), long microseconds)
{
    signal(SIGALRM, handler);
    struct itimerval every = {{0, microseconds}, {0, microseconds}};
    setitimer(ITIMER_REAL, &every, NULL);
}

static void *idle(void *arg)
{
    for (;;)
        pause();
    return arg;
}

/* run_on(top, fn): call fn on the stack that ends at top, as a green
 * thread's switch does; its CFI, like many hand-written switches', does
 * not say where the old stack went. */
void run_on(void *top, void (*fn)(void));
__asm__(".text\n.globl run_on\n.type run_on,@function\nrun_on:\n"
        ".cfi_startproc\n push %rbx\n .cfi_def_cfa_offset 16\n .cfi_offset rbx,-16\n"
        " mov %rsp,%rbx\n mov %rdi,%rsp\n call *%rsi\n mov %rbx,%rsp\n pop %rbx\n"
        " .cfi_def_cfa_offset 8\n ret\n .cfi_endproc\n.size run_on,.-run_on\n");

static void on_green_stack(void)
{
    for (int i = 0; i < 100; i++) {
        sink = malloc(100 + i);
        free(sink);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "handler") || !strcmp(mode, "threads")) {
        pthread_t t;
        if (!strcmp(mode, "threads"))
            pthread_create(&t, NULL, idle, NULL);
        tick(allocate_in_handler, 100);
        for (long i = 0; i < 1000000; i++) {
            sink = malloc(16 + i % 64);
            free(sink);
        }
        setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, NULL);
        printf("%s: a million mallocs, the handler ran: %s\n", mode, handled ? "yes" : "no");
    } else if (!strcmp(mode, "coroutine")) {
        size_t size = 64 * 1024;
        char *stack = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(stack + size, size, PROT_NONE); /* a guard above the green stack */
        run_on(stack + size, on_green_stack);
        puts("coroutine: 100 mallocs on a stack of its own");
    } else if (!strcmp(mode, "fork")) {
        tick(fork_in_handler, 5000);
        for (long i = 0; i < 1000000; i++) {
            sink = malloc(16);
            free(sink);
            if (forked_child) { /* the child allocates on a little, then leaves */
                for (int j = 0; j < 1000; j++) {
                    sink = malloc(16);
                    free(sink);
                }
                _exit(0);
            }
        }
        setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, NULL);
        int status, children = 0, died = 0;
        while (wait(&status) > 0) {
            children++;
            died += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        }
        printf("fork: %s, none died: %s\n", children ? "children forked" : "no child", died ? "no" : "yes");
    } else {
        fprintf(stderr, "usage: %s handler|threads|coroutine|fork\n", argv[0]);
        return 2;
    }
    return 0;
}
