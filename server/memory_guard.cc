#include "server/memory_guard.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "server/log.h"

namespace seatlock {

uint64_t MemoryGuard::ReadRss() {
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t MemoryGuard::DefaultLimit() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  uint64_t ram = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  // In a container the cgroup's limit (v2) is the RAM that counts.
  if (FILE* f = std::fopen("/sys/fs/cgroup/memory.max", "r")) {
    unsigned long long max = 0;
    if (std::fscanf(f, "%llu", &max) == 1 && max > 0 && max < ram) ram = max;
    std::fclose(f);
  }
  return ram / 4 * 3;
}

void MemoryGuard::Poll(int64_t now_ms) {
  const uint64_t limit = this->limit();
  if (limit == 0) return;
  int64_t last = last_poll_ms_.load(std::memory_order_relaxed);
  if (now_ms - last < 100) return;
  // One shard measures; the others see its figures.
  if (!last_poll_ms_.compare_exchange_strong(last, now_ms, std::memory_order_relaxed)) return;
  const uint64_t rss = ReadRss();
  rss_.store(rss, std::memory_order_relaxed);
  const bool over = rss >= limit;
  if (exceeded_.exchange(over, std::memory_order_relaxed) != over) {
    if (over) {
      LogWarning("memory guard: resident memory ", rss >> 20, " MiB is at or over --max_memory (",
                 limit >> 20, " MiB); refusing new holds, joins and connections");
    } else {
      LogInfo("memory guard: resident memory ", rss >> 20, " MiB is under --max_memory again");
    }
  }
}

}  // namespace seatlock
