__attribute__((noinline)) void b_calls_back(void (*cb)(void)) {
    cb();
    __asm__ volatile("");
}
