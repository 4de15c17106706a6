// StopAndWait: once it returns, no thread of the process runs until SIGCONT.
// A forked child with two threads that count in shared memory; the count must
// not move while it is stopped, and must move again after SIGCONT.
#include "tests/cluster/process_stop.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include <gtest/gtest.h>

namespace seatlock::testing {
namespace {

struct Counters {
  std::atomic<uint64_t> spins[2];
};

TEST(ProcessStopTest, NoThreadRunsOnceStopAndWaitReturns) {
  void* mem =
      mmap(nullptr, sizeof(Counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* counters = new (mem) Counters{};
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::thread other([&] {
      for (;;) counters->spins[1].fetch_add(1, std::memory_order_relaxed);
    });
    for (;;) counters->spins[0].fetch_add(1, std::memory_order_relaxed);
  }
  // Both threads are running before the stop.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((counters->spins[0].load() == 0 || counters->spins[1].load() == 0) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GT(counters->spins[1].load(), 0u);
  EXPECT_FALSE(AllThreadsStopped(pid));

  ASSERT_TRUE(StopAndWait(pid));
  EXPECT_TRUE(AllThreadsStopped(pid));
  const uint64_t a = counters->spins[0].load(), b = counters->spins[1].load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(counters->spins[0].load(), a);
  EXPECT_EQ(counters->spins[1].load(), b);

  kill(pid, SIGCONT);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(counters->spins[0].load() + counters->spins[1].load(), a + b);

  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  // A process that is gone is not stopped, and cannot be.
  EXPECT_FALSE(AllThreadsStopped(pid));
  EXPECT_FALSE(StopAndWait(pid, 100));
  munmap(mem, sizeof(Counters));
}

}  // namespace
}  // namespace seatlock::testing
