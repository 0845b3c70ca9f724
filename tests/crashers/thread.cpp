// thread.cpp — a crash in a thread started by std::thread, built without frame pointers.
#include <thread>
#include <vector>

volatile int sink;
namespace worker {
__attribute__((noinline)) int process_item(const std::vector<int> *items, int i) {
    int tmp[4] = {i, i + 1, i + 2, i + 3};
    sink = tmp[i & 3];
    return (*items)[i] + tmp[1];
}
__attribute__((noinline)) void run(const std::vector<int> *items) { sink = process_item(items, 2); }
} // namespace worker

int main() {
    const std::vector<int> *none = nullptr;
    std::thread t(worker::run, none);
    t.join();
}
