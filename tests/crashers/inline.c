/* inline.c — the faulting statement sits in functions inlined two deep: `inline [N]`.
 * Built -O2 -g; the report must show both inlined frames with their lines. */
#include <stdio.h>
#include <stdlib.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

volatile int sink;

ALWAYS_INLINE int read_cell(const int *cells, int i) {
    return cells[i] * 3; /* the fault: cells is NULL */
}

ALWAYS_INLINE int sum_cells(const int *cells, int n) {
    int total = 0;
    for (int i = 0; i < n; i++)
        total += read_cell(cells, i);
    return total;
}

__attribute__((noinline)) int table_total(const int *cells, int n) {
    sink = n;
    return sum_cells(cells, n) + 1;
}

int main(int argc, char **argv) {
    const int *cells = argc > 100 ? (const int *)argv : NULL;
    printf("%d\n", table_total(cells, argc > 1 ? atoi(argv[1]) : 4));
    return 0;
}
