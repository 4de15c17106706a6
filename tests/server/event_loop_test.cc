// The EventLoop contract (server/event_loop.h), run against both backends:
// io_uring (UringLoop) and epoll (EpollLoop), in the manner of Seastar's
// reactor-backend test. Every test uses real loopback TCP sockets on
// ephemeral ports and a recording LoopHandler.
//
// The loop is created, run and destroyed on the test thread; peers that must
// run concurrently (large transfers, round trips) run on helper threads with
// socket timeouts. Every Run is bounded: the handler stops the loop at a
// deadline (OnPass never waits past it), and a watchdog keeps calling Wake()
// if Run has not returned shortly after the deadline, so a bug fails a test
// instead of hanging it.
#include "server/event_loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace seatlock {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The most one test may run its loop; a correct backend needs far less.
constexpr milliseconds kTimeout{10'000};

// ---------------------------------------------------------------------------
// Sockets

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A non-blocking listening socket on 127.0.0.1 and an ephemeral port.
Fd ListenLoopback(uint16_t* port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Fd();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 || listen(fd.get(), 64) < 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) < 0) {
    return Fd();
  }
  *port = ntohs(a.sin_port);
  return fd;
}

uint16_t LocalPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) return 0;
  return ntohs(a.sin_port);
}

// A blocking client socket connected to 127.0.0.1:port. Reads and writes on
// it give up after 10 s, so a peer thread cannot hang a test.
Fd ConnectLoopback(uint16_t port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Fd();
  timeval tv{};
  tv.tv_sec = 10;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return Fd();
  return fd;
}

// A connected loopback pair: `server` is non-blocking (as the loop's
// listeners hand them out) for AddConnection; `client` is a blocking peer.
struct TcpPair {
  Fd server;
  Fd client;
};

TcpPair ConnectedPair() {
  TcpPair p;
  uint16_t port = 0;
  Fd listener = ListenLoopback(&port);
  if (listener.get() < 0) return p;
  p.client = ConnectLoopback(port);
  if (p.client.get() < 0) return p;
  pollfd pfd{listener.get(), POLLIN, 0};
  if (poll(&pfd, 1, 10'000) != 1) return p;
  p.server.reset(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  return p;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads exactly `n` bytes; fewer on EOF, error or timeout.
std::string RecvExactly(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = recv(fd, out.data() + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

// Reads until EOF; returns false if the read failed or timed out first.
bool RecvToEof(int fd, std::string* out) {
  char buf[64 * 1024];
  for (;;) {
    const ssize_t r = recv(fd, buf, sizeof(buf), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return true;
    if (r < 0) return false;
    out->append(buf, static_cast<size_t>(r));
  }
}

// `n` bytes that are not periodic in any small power of two, so a lost,
// duplicated or reordered piece shows.
std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s[i] = static_cast<char>(x);
  }
  return s;
}

// How long a test watches for something that must not happen.
constexpr milliseconds kQuietWindow{150};

// Waits (polling, with a deadline) for `flag`; false on timeout.
bool AwaitFlag(const std::atomic<bool>& flag) {
  const auto deadline = SteadyClock::now() + kTimeout;
  while (!flag.load()) {
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// ---------------------------------------------------------------------------
// A LoopHandler that records every callback and runs per-test hooks.

class TestHandler final : public LoopHandler {
 public:
  struct PeerClosed {
    uint64_t conn;
    int error;
  };

  explicit TestHandler(EventLoop* loop) : loop_(loop) {}

  // Hooks, all optional. `until` is checked at the start of every pass; once
  // true the handler stops the loop. `on_pass` returns the wait it wants (-1:
  // none); the handler never returns a wait past the deadline.
  std::function<bool()> until;
  std::function<int64_t()> on_pass;
  std::function<void(int tag, int fd)> on_accept;  // default: AddConnection
  std::function<void(uint64_t conn, std::string_view data)> on_data;
  std::function<void(uint64_t conn, int error)> on_peer_closed;  // default: Close
  std::function<void()> on_wake;

  // What happened, in order.
  std::vector<std::pair<int, int>> accepts;  // (listener tag, fd)
  std::map<uint64_t, std::string> input;
  std::map<uint64_t, int> data_calls;
  std::vector<PeerClosed> peer_closed;
  int wakes = 0;
  int passes = 0;
  bool timed_out = false;
  bool wrong_thread = false;  // a callback ran off the loop thread
  uint64_t next_conn = 100;   // ids the default on_accept gives

  void Arm(SteadyClock::time_point deadline) {
    deadline_ = deadline;
    loop_thread_ = std::this_thread::get_id();
  }

  void OnAccept(int listener_tag, int fd) override {
    CheckThread();
    accepts.emplace_back(listener_tag, fd);
    if (on_accept) {
      on_accept(listener_tag, fd);
    } else {
      loop_->AddConnection(next_conn++, fd);
    }
  }
  void OnData(uint64_t conn, const char* data, size_t n) override {
    CheckThread();
    input[conn].append(data, n);
    data_calls[conn]++;
    if (on_data) on_data(conn, std::string_view(data, n));
  }
  void OnPeerClosed(uint64_t conn, int error) override {
    CheckThread();
    peer_closed.push_back({conn, error});
    if (on_peer_closed) {
      on_peer_closed(conn, error);
    } else {
      loop_->Close(conn);
    }
  }
  void OnWake() override {
    CheckThread();
    ++wakes;
    if (on_wake) on_wake();
  }
  int64_t OnPass() override {
    CheckThread();
    ++passes;
    if (until && until()) {
      loop_->Stop();
      return 0;
    }
    const auto now = SteadyClock::now();
    if (now >= deadline_) {
      timed_out = true;
      loop_->Stop();
      return 0;
    }
    const int64_t wanted = on_pass ? on_pass() : -1;
    const int64_t left =
        std::chrono::duration_cast<milliseconds>(deadline_ - now).count() + 1;  // round up
    return wanted < 0 ? left : std::min(wanted, left);
  }

 private:
  void CheckThread() {
    if (std::this_thread::get_id() != loop_thread_) wrong_thread = true;
  }

  EventLoop* loop_;
  SteadyClock::time_point deadline_ = SteadyClock::now() + kTimeout;
  std::thread::id loop_thread_ = std::this_thread::get_id();
};

// ---------------------------------------------------------------------------
// The fixture: one loop of the parameter's backend, made on the test thread.

class EventLoopContract : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    auto loop = MakeEventLoop(GetParam());
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    if (GetParam() == IoBackend::kUring && loop_->name() != "io_uring") {
      GTEST_SKIP() << "io_uring refused here; MakeEventLoop fell back to " << loop_->name();
    }
  }

  // Runs the loop on this thread until the handler stops it (its `until`
  // holds, a hook calls Stop) or `timeout` passes.
  void RunLoop(TestHandler& h, milliseconds timeout = kTimeout) {
    const auto deadline = SteadyClock::now() + timeout;
    h.Arm(deadline);
    std::mutex mu;
    std::condition_variable cv;
    bool returned = false;
    // If a wait was not bounded by OnPass's answer, keep waking the loop so
    // OnPass sees the deadline and stops it.
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> l(mu);
      if (cv.wait_until(l, deadline + milliseconds(500), [&] { return returned; })) return;
      while (!cv.wait_for(l, milliseconds(100), [&] { return returned; })) loop_->Wake();
    });
    loop_->Run(&h);
    {
      std::lock_guard<std::mutex> l(mu);
      returned = true;
    }
    cv.notify_all();
    watchdog.join();
    EXPECT_FALSE(h.wrong_thread) << "a handler callback ran off the loop thread";
  }

  bool IsUring() const { return loop_->name() == "io_uring"; }

  std::unique_ptr<EventLoop> loop_;
};

// ---- Accepting ------------------------------------------------------------

TEST_P(EventLoopContract, AcceptReportsTheListenersTag) {
  uint16_t port7 = 0, port9 = 0;
  Fd l7 = ListenLoopback(&port7);
  Fd l9 = ListenLoopback(&port9);
  ASSERT_GE(l7.get(), 0);
  ASSERT_GE(l9.get(), 0);
  ASSERT_TRUE(loop_->AddListener(l7.get(), 7).ok());
  ASSERT_TRUE(loop_->AddListener(l9.get(), 9).ok());
  Fd a = ConnectLoopback(port7);
  Fd b = ConnectLoopback(port9);
  Fd c = ConnectLoopback(port9);
  ASSERT_GE(a.get(), 0);
  ASSERT_GE(b.get(), 0);
  ASSERT_GE(c.get(), 0);

  TestHandler h(loop_.get());
  h.until = [&] { return h.accepts.size() >= 3; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out) << h.accepts.size() << " of 3 connections accepted";
  ASSERT_EQ(h.accepts.size(), 3u);
  int tag7 = 0, tag9 = 0;
  for (const auto& [tag, fd] : h.accepts) {
    const uint16_t port = LocalPort(fd);
    EXPECT_EQ(tag, port == port7 ? 7 : 9) << "accepted on port " << port;
    (tag == 7 ? tag7 : tag9)++;
  }
  EXPECT_EQ(tag7, 1);
  EXPECT_EQ(tag9, 2);
  EXPECT_EQ(loop_->connection_count(), 3u);  // the default hook added each one
}

TEST_P(EventLoopContract, StopListeningStopsAccepting) {
  uint16_t port = 0;
  Fd listener = ListenLoopback(&port);
  ASSERT_GE(listener.get(), 0);
  ASSERT_TRUE(loop_->AddListener(listener.get(), 1).ok());
  Fd first = ConnectLoopback(port);
  ASSERT_GE(first.get(), 0);

  TestHandler h(loop_.get());
  Fd second;
  SteadyClock::time_point second_at;
  h.on_accept = [&](int, int fd) {
    loop_->AddConnection(h.next_conn++, fd);
    loop_->StopListening();
  };
  h.on_pass = [&]() -> int64_t {
    if (h.accepts.size() == 1 && second.get() < 0) {
      // The kernel completes this handshake from the listen backlog; the
      // loop must not hand it to the handler.
      second = ConnectLoopback(port);
      second_at = SteadyClock::now();
    }
    return 5;
  };
  h.until = [&] { return second.get() >= 0 && SteadyClock::now() - second_at >= kQuietWindow; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out);
  EXPECT_GE(second.get(), 0);
  EXPECT_EQ(h.accepts.size(), 1u) << "accepted after StopListening";
  EXPECT_EQ(loop_->connection_count(), 1u);
}

TEST_P(EventLoopContract, StopListeningInsideOnAcceptLeavesTheBacklogUnaccepted) {
  uint16_t port = 0;
  Fd listener = ListenLoopback(&port);
  ASSERT_GE(listener.get(), 0);
  ASSERT_TRUE(loop_->AddListener(listener.get(), 1).ok());
  std::vector<Fd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(ConnectLoopback(port));
    ASSERT_GE(clients.back().get(), 0);
  }

  TestHandler h(loop_.get());
  SteadyClock::time_point stopped_at;
  h.on_accept = [&](int, int fd) {
    loop_->AddConnection(h.next_conn++, fd);
    if (h.accepts.size() == 1) {
      loop_->StopListening();
      stopped_at = SteadyClock::now();
    }
  };
  h.on_pass = [&]() -> int64_t { return 5; };
  h.until = [&] { return !h.accepts.empty() && SteadyClock::now() - stopped_at >= kQuietWindow; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out);
  EXPECT_EQ(h.accepts.size(), 1u) << "connections handed to OnAccept after StopListening";
}

// ---- Reading --------------------------------------------------------------

TEST_P(EventLoopContract, OnDataDeliversEachConnectionsBytes) {
  TcpPair p1 = ConnectedPair();
  TcpPair p2 = ConnectedPair();
  ASSERT_GE(p1.server.get(), 0);
  ASSERT_GE(p2.server.get(), 0);
  loop_->AddConnection(1, p1.server.release());
  loop_->AddConnection(2, p2.server.release());
  EXPECT_EQ(loop_->connection_count(), 2u);
  ASSERT_TRUE(SendAll(p1.client.get(), "hello"));
  ASSERT_TRUE(SendAll(p2.client.get(), "world!"));

  TestHandler h(loop_.get());
  h.until = [&] { return h.input[1].size() >= 5 && h.input[2].size() >= 6; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out);
  EXPECT_EQ(h.input[1], "hello");
  EXPECT_EQ(h.input[2], "world!");
  EXPECT_EQ(h.input.size(), 2u);
  EXPECT_TRUE(h.peer_closed.empty());
}

TEST_P(EventLoopContract, LargePayloadArrivesInPiecesWithNoByteLost) {
  constexpr size_t kBytes = 8 << 20;
  const std::string payload = Pattern(kBytes);
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  std::atomic<bool> sent{false};
  std::thread sender([&] { sent = SendAll(p.client.get(), payload); });

  TestHandler h(loop_.get());
  h.until = [&] { return h.input[1].size() >= kBytes; };
  RunLoop(h);
  sender.join();

  ASSERT_FALSE(h.timed_out) << h.input[1].size() << " of " << kBytes << " bytes arrived";
  EXPECT_TRUE(sent);
  EXPECT_EQ(h.input[1].size(), kBytes);
  EXPECT_TRUE(h.input[1] == payload) << "bytes lost, duplicated or reordered";
  EXPECT_GT(h.data_calls[1], 1) << "8 MiB arrived in one OnData";
}

TEST_P(EventLoopContract, PeerCloseIsReportedWithErrorZeroAfterItsData) {
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  ASSERT_TRUE(SendAll(p.client.get(), "bye"));
  p.client.reset();

  TestHandler h(loop_.get());
  std::string input_at_close;
  h.on_peer_closed = [&](uint64_t conn, int) {
    input_at_close = h.input[conn];
    loop_->Close(conn);
  };
  h.until = [&] { return !h.peer_closed.empty() && loop_->connection_count() == 0; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out);
  ASSERT_EQ(h.peer_closed.size(), 1u);
  EXPECT_EQ(h.peer_closed[0].conn, 1u);
  EXPECT_EQ(h.peer_closed[0].error, 0);
  EXPECT_EQ(input_at_close, "bye") << "the data must come before the close";
  EXPECT_EQ(loop_->Output(1), nullptr);
}

// ---- Backpressure -----------------------------------------------------------

TEST_P(EventLoopContract, ReadingDisabledBeforeDataArrivesHoldsItBackUntilReenabled) {
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  loop_->SetReadEnabled(1, false);
  ASSERT_TRUE(SendAll(p.client.get(), "held back"));

  TestHandler h(loop_.get());
  std::string input_while_disabled = "(not recorded)";
  const auto start = SteadyClock::now();
  bool enabled = false;
  h.on_pass = [&]() -> int64_t {
    if (!enabled && SteadyClock::now() - start >= kQuietWindow) {  // bytes waiting all along
      input_while_disabled = h.input[1];
      loop_->SetReadEnabled(1, true);
      enabled = true;
    }
    return 5;
  };
  h.until = [&] { return h.input[1].size() >= 9; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out);
  EXPECT_EQ(input_while_disabled, "") << "OnData while reading was disabled";
  EXPECT_EQ(h.input[1], "held back");
}

TEST_P(EventLoopContract, ReadingDisabledInsideOnDataStopsOnDataUntilReenabled) {
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  std::atomic<bool> paused{false};
  std::atomic<bool> second_sent{false};
  std::thread peer([&] {
    if (!SendAll(p.client.get(), "first")) return;
    if (!AwaitFlag(paused)) return;
    second_sent = SendAll(p.client.get(), "second");
  });

  TestHandler h(loop_.get());
  h.on_data = [&](uint64_t conn, std::string_view) {
    if (!paused) {
      loop_->SetReadEnabled(conn, false);
      paused = true;
    }
  };
  std::optional<SteadyClock::time_point> sent_seen;
  bool enabled = false;
  std::string input_while_disabled = "(not recorded)";
  h.on_pass = [&]() -> int64_t {
    if (!sent_seen && second_sent) sent_seen = SteadyClock::now();
    if (!enabled && sent_seen && SteadyClock::now() - *sent_seen >= kQuietWindow) {
      input_while_disabled = h.input[1];
      loop_->SetReadEnabled(1, true);
      enabled = true;
    }
    return 5;
  };
  h.until = [&] { return h.input[1].size() >= 11; };
  RunLoop(h);
  peer.join();

  ASSERT_FALSE(h.timed_out) << "input: " << h.input[1];
  EXPECT_TRUE(second_sent);
  EXPECT_EQ(input_while_disabled, "first") << "OnData while reading was disabled";
  EXPECT_EQ(h.input[1], "firstsecond") << "data lost while reading was disabled";
}

// ---- Writing ----------------------------------------------------------------

TEST_P(EventLoopContract, OutputAppendedDuringAPassIsSentAfterIt) {
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  std::atomic<bool> received{false};
  std::string got;
  std::thread peer([&] {
    got = RecvExactly(p.client.get(), 8);
    received = true;
    loop_->Wake();
  });

  TestHandler h(loop_.get());
  size_t pending_after_append = 0;
  h.on_pass = [&]() -> int64_t {
    if (h.passes == 1) {
      std::string* out = loop_->Output(1);
      EXPECT_NE(out, nullptr);
      if (out != nullptr) out->append("greeting");
      pending_after_append = loop_->PendingOutput(1);
    }
    return -1;  // no I/O is due: only the send and the peer's Wake end the wait
  };
  h.until = [&] { return received && loop_->PendingOutput(1) == 0; };
  RunLoop(h);
  peer.join();

  ASSERT_FALSE(h.timed_out);
  EXPECT_EQ(got, "greeting");
  EXPECT_EQ(pending_after_append, 8u);
  EXPECT_EQ(loop_->PendingOutput(1), 0u);
}

TEST_P(EventLoopContract, EchoRoundTrip) {
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  std::atomic<bool> peer_done{false};
  bool all_echoed = false;
  std::string eof_tail;
  bool eof = false;
  std::thread peer([&] {
    all_echoed = true;
    for (int i = 0; i < 200 && all_echoed; ++i) {
      const std::string msg = Pattern(1 + static_cast<size_t>(i) * 997 % 40'000);
      all_echoed = SendAll(p.client.get(), msg) && RecvExactly(p.client.get(), msg.size()) == msg;
    }
    shutdown(p.client.get(), SHUT_WR);  // the loop then closes its side
    eof = RecvToEof(p.client.get(), &eof_tail);
    peer_done = true;
    loop_->Wake();
  });

  TestHandler h(loop_.get());
  h.on_data = [&](uint64_t conn, std::string_view data) {
    std::string* out = loop_->Output(conn);
    ASSERT_NE(out, nullptr);
    out->append(data);
  };
  h.until = [&] { return peer_done && loop_->connection_count() == 0; };
  RunLoop(h);
  peer.join();

  ASSERT_FALSE(h.timed_out);
  EXPECT_TRUE(all_echoed);
  EXPECT_TRUE(eof) << "no EOF after the peer's shutdown";
  EXPECT_EQ(eof_tail, "");
  ASSERT_EQ(h.peer_closed.size(), 1u);
  EXPECT_EQ(h.peer_closed[0].error, 0);
}

TEST_P(EventLoopContract, PendingOutputCountsBytesNotYetSent) {
  constexpr size_t kBytes = 16 << 20;  // more than loopback socket buffers hold
  const std::string payload = Pattern(kBytes);
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  std::atomic<bool> read_now{false};
  std::atomic<bool> peer_done{false};
  std::string got;
  std::thread peer([&] {
    if (AwaitFlag(read_now)) got = RecvExactly(p.client.get(), kBytes);
    peer_done = true;
    loop_->Wake();
  });

  TestHandler h(loop_.get());
  size_t pending_after_append = 0;
  size_t pending_while_blocked = 0;
  SteadyClock::time_point appended_at;
  h.on_pass = [&]() -> int64_t {
    if (h.passes == 1) {
      loop_->Output(1)->append(payload);
      pending_after_append = loop_->PendingOutput(1);
      appended_at = SteadyClock::now();
    } else if (!read_now && SteadyClock::now() - appended_at >= kQuietWindow) {
      pending_while_blocked = loop_->PendingOutput(1);  // the peer has read nothing yet
      read_now = true;
    }
    return 5;
  };
  h.until = [&] { return peer_done && loop_->PendingOutput(1) == 0; };
  RunLoop(h);
  read_now = true;
  peer.join();

  ASSERT_FALSE(h.timed_out) << "pending: " << loop_->PendingOutput(1);
  EXPECT_EQ(pending_after_append, kBytes);
  EXPECT_GT(pending_while_blocked, 0u);
  EXPECT_LE(pending_while_blocked, kBytes);
  EXPECT_EQ(got.size(), kBytes);
  EXPECT_TRUE(got == payload);
  EXPECT_EQ(loop_->PendingOutput(1), 0u);
  EXPECT_EQ(loop_->PendingOutput(12345), 0u) << "unknown connection";
}

TEST_P(EventLoopContract, CloseSendsQueuedOutputThenCloses) {
  constexpr size_t kBytes = 4 << 20;
  const std::string payload = Pattern(kBytes);
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  std::atomic<bool> peer_done{false};
  std::string got;
  bool eof = false;
  std::thread peer([&] {
    eof = RecvToEof(p.client.get(), &got);
    peer_done = true;
    loop_->Wake();
  });

  TestHandler h(loop_.get());
  h.on_pass = [&]() -> int64_t {
    if (h.passes == 1) {
      loop_->Output(1)->append(payload);
      loop_->Close(1);
    }
    return -1;
  };
  h.until = [&] { return peer_done && loop_->connection_count() == 0; };
  RunLoop(h);
  peer.join();

  ASSERT_FALSE(h.timed_out) << got.size() << " of " << kBytes << " bytes read";
  EXPECT_TRUE(eof) << "the peer saw no EOF";
  EXPECT_EQ(got.size(), kBytes);
  EXPECT_TRUE(got == payload);
  EXPECT_TRUE(h.peer_closed.empty()) << "OnPeerClosed after Close";
  EXPECT_TRUE(h.input.empty());
}

TEST_P(EventLoopContract, OutputOfAnUnknownOrClosedConnectionIsNull) {
  EXPECT_EQ(loop_->Output(42), nullptr);
  EXPECT_EQ(loop_->PendingOutput(42), 0u);
  loop_->SetReadEnabled(42, false);  // no-ops
  loop_->Close(42);
  EXPECT_EQ(loop_->connection_count(), 0u);

  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  EXPECT_NE(loop_->Output(1), nullptr);

  TestHandler h(loop_.get());
  h.on_pass = [&]() -> int64_t {
    if (h.passes == 1) loop_->Close(1);
    return -1;
  };
  h.until = [&] { return h.passes > 1 && loop_->connection_count() == 0; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out);
  EXPECT_EQ(loop_->Output(1), nullptr);
  EXPECT_EQ(loop_->PendingOutput(1), 0u);
  std::string rest;
  EXPECT_TRUE(RecvToEof(p.client.get(), &rest)) << "the peer saw no EOF";
  EXPECT_EQ(rest, "");
}

// ---- Waking, passes, stopping ---------------------------------------------

TEST_P(EventLoopContract, WakeFromAnotherThreadRunsOnWakeOnTheLoopThread) {
  std::atomic<bool> waiting{false};
  std::thread waker([&] {
    if (AwaitFlag(waiting)) loop_->Wake();
  });

  TestHandler h(loop_.get());
  h.on_pass = [&]() -> int64_t {
    waiting = true;
    return -1;  // only the Wake (or the deadline) ends this wait
  };
  h.until = [&] { return h.wakes > 0; };
  RunLoop(h);
  waker.join();

  ASSERT_FALSE(h.timed_out) << "Wake() did not reach the loop";
  EXPECT_EQ(h.wakes, 1);
  // RunLoop checks that OnWake ran on the loop's thread.
}

TEST_P(EventLoopContract, WakeBeforeRunIsDeliveredByRun) {
  loop_->Wake();
  TestHandler h(loop_.get());
  h.until = [&] { return h.wakes > 0; };
  RunLoop(h);
  ASSERT_FALSE(h.timed_out);
  EXPECT_EQ(h.wakes, 1);
}

TEST_P(EventLoopContract, OnPassReturnValueBoundsTheWait) {
  // OnPass's answer is the longest the loop may wait: with 10 ms and nothing
  // to do, passes keep coming (about 50 in 500 ms), neither blocking until
  // the deadline nor spinning. (A wait may end early: epoll_wait returns
  // EINTR when io_uring task work of an earlier ring on this thread is run,
  // which the contract allows; so this counts passes, not exact gaps. The
  // window is long enough that a descheduled thread cannot fail it alone.)
  TestHandler h(loop_.get());
  SteadyClock::time_point first;
  int window_passes = 0;
  h.on_pass = [&]() -> int64_t {
    if (window_passes++ == 0) first = SteadyClock::now();
    return 10;
  };
  h.until = [&] { return window_passes > 0 && SteadyClock::now() - first >= milliseconds(500); };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out) << "passes: " << h.passes;
  EXPECT_GE(window_passes, 15) << "the loop waited past the 10 ms OnPass allowed";
  EXPECT_LE(window_passes, 200) << "the loop did not wait at all";
  EXPECT_EQ(h.wakes, 0);
  EXPECT_TRUE(h.input.empty());
}

TEST_P(EventLoopContract, StopInsideOnWakeMakesRunReturn) {
  loop_->Wake();
  TestHandler h(loop_.get());
  h.on_wake = [&] { loop_->Stop(); };
  RunLoop(h);
  EXPECT_FALSE(h.timed_out) << "Run kept going after Stop()";
  EXPECT_EQ(h.wakes, 1);
}

TEST_P(EventLoopContract, StopInsideOnDataMakesRunReturn) {
  TcpPair p = ConnectedPair();
  ASSERT_GE(p.server.get(), 0);
  loop_->AddConnection(1, p.server.release());
  ASSERT_TRUE(SendAll(p.client.get(), "x"));
  TestHandler h(loop_.get());
  h.on_data = [&](uint64_t, std::string_view) { loop_->Stop(); };
  RunLoop(h);
  EXPECT_FALSE(h.timed_out) << "Run kept going after Stop()";
  EXPECT_EQ(h.input[1], "x");
}

// ---- File writes ------------------------------------------------------------

class TempFile {
 public:
  TempFile() {
    path_ = ::testing::TempDir() + "event_loop_test_XXXXXX";
    fd_.reset(mkstemp(path_.data()));
  }
  ~TempFile() { unlink(path_.c_str()); }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  std::string Contents() const {
    std::string out;
    struct stat st {};
    if (fstat(fd_.get(), &st) < 0) return out;
    out.resize(static_cast<size_t>(st.st_size));
    if (pread(fd_.get(), out.data(), out.size(), 0) != st.st_size) out.clear();
    return out;
  }

 private:
  std::string path_;
  Fd fd_;
};

TEST_P(EventLoopContract, WriteAndSyncWritesAtTheOffsetAndCompletesOnTheLoopThread) {
  TempFile file;
  ASSERT_GE(file.fd(), 0);
  ASSERT_EQ(pwrite(file.fd(), "0123456789", 10, 0), 10);
  static constexpr char kData[] = "abc";
  constexpr uint64_t kFar = 1 << 20;
  const std::string big = Pattern(1 << 20);
  const auto loop_thread = std::this_thread::get_id();
  int synced_result = 1, unsynced_result = 1;
  bool synced_on_loop = false, unsynced_on_loop = false;

  // The second write starts from the first one's completion, as the shard's
  // log does: one write per fd in flight.
  loop_->WriteAndSync(file.fd(), kData, 3, 4, /*sync=*/true, [&](int r) {
    synced_result = r;
    synced_on_loop = std::this_thread::get_id() == loop_thread;
    loop_->WriteAndSync(file.fd(), big.data(), big.size(), kFar, /*sync=*/false, [&](int r2) {
      unsynced_result = r2;
      unsynced_on_loop = std::this_thread::get_id() == loop_thread;
    });
  });
  TestHandler h(loop_.get());
  h.until = [&] { return unsynced_result != 1; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out) << "a WriteAndSync never completed";
  EXPECT_EQ(synced_result, 0);
  EXPECT_EQ(unsynced_result, 0);
  EXPECT_TRUE(synced_on_loop);
  EXPECT_TRUE(unsynced_on_loop);
  const std::string contents = file.Contents();
  ASSERT_EQ(contents.size(), kFar + big.size());
  EXPECT_EQ(contents.substr(0, 10), "0123abc789");
  EXPECT_EQ(contents.find_first_not_of('\0', 10), kFar) << "bytes written into the hole";
  EXPECT_TRUE(contents.substr(kFar) == big);
}

TEST_P(EventLoopContract, WriteAndSyncReportsMinusErrnoForABadFd) {
  TempFile file;
  ASSERT_GE(file.fd(), 0);
  Fd read_only(open(file.path().c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(read_only.get(), 0);
  const auto loop_thread = std::this_thread::get_id();
  int closed_fd_result = 1, read_only_result = 1;
  bool on_loop = true;
  loop_->WriteAndSync(-1, "x", 1, 0, /*sync=*/true, [&](int r) {
    closed_fd_result = r;
    on_loop = on_loop && std::this_thread::get_id() == loop_thread;
    loop_->WriteAndSync(read_only.get(), "x", 1, 0, /*sync=*/true, [&](int r2) {
      read_only_result = r2;
      on_loop = on_loop && std::this_thread::get_id() == loop_thread;
    });
  });
  TestHandler h(loop_.get());
  h.until = [&] { return read_only_result != 1; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out);
  EXPECT_EQ(closed_fd_result, -EBADF);
  EXPECT_EQ(read_only_result, -EBADF);
  EXPECT_TRUE(on_loop);
  EXPECT_EQ(file.Contents(), "");
}

TEST_P(EventLoopContract, UnsyncedWriteReportsMinusErrnoForABadFd) {
  TempFile file;
  ASSERT_GE(file.fd(), 0);
  Fd read_only(open(file.path().c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(read_only.get(), 0);
  int result = 1;
  loop_->WriteAndSync(read_only.get(), "x", 1, 0, /*sync=*/false, [&](int r) { result = r; });
  TestHandler h(loop_.get());
  h.until = [&] { return result != 1; };
  RunLoop(h);

  ASSERT_FALSE(h.timed_out);
  EXPECT_EQ(result, -EBADF);
  EXPECT_EQ(file.Contents(), "");
}

INSTANTIATE_TEST_SUITE_P(Backends, EventLoopContract,
                         ::testing::Values(IoBackend::kUring, IoBackend::kEpoll),
                         [](const ::testing::TestParamInfo<IoBackend>& info) {
                           return info.param == IoBackend::kUring ? "uring" : "epoll";
                         });

}  // namespace
}  // namespace seatlock
