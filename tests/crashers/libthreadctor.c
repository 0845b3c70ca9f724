/* libthreadctor.c — a library whose constructor (run before crashguard's: the program's
 * own DT_NEEDED libraries are initialised first) creates a thread and says whether that
 * thread has an alternate signal stack. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

static void *describe(void *arg) {
    (void)arg;
    stack_t s;
    sigaltstack(0, &s);
    if (s.ss_flags & SS_DISABLE)
        printf("constructor's thread: no alternate stack\n");
    else
        printf("constructor's thread: alternate stack of %zu bytes\n", s.ss_size);
    fflush(stdout);
    return 0;
}

__attribute__((constructor)) static void early(void) {
    pthread_t t;
    if (pthread_create(&t, 0, describe, 0) == 0)
        pthread_join(t, 0);
}
