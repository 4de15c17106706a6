#include "client/async_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <limits>
#include <queue>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/str_error.h"
#include "protocol/framing.h"
#include "protocol/op_table.h"

namespace seatlock {
namespace {

constexpr uint64_t kWakeTag = ~uint64_t{0};
constexpr uint64_t kTimerTag = ~uint64_t{0} - 1;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

int64_t MonoMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::string Where(const std::string& host, uint16_t port) { return absl::StrCat(host, ":", port); }

absl::Status ConnectError(const std::string& host, uint16_t port, int err) {
  std::string msg = absl::StrCat("connection ", err == ECONNREFUSED ? "refused" : "failed", " to ",
                                 Where(host, port), ": ", StrError(err));
  if (err == ECONNREFUSED) msg += " (is seatlockd running?)";
  return absl::UnavailableError(msg);
}

// Starts a non-blocking connect. Returns the fd, or -errno.
int StartConnect(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port_str = std::to_string(port);
  if (getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res) != 0 || res == nullptr)
    return -EHOSTUNREACH;
  const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return -errno;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  const int err = errno;
  freeaddrinfo(res);
  if (rc < 0 && err != EINPROGRESS) {
    close(fd);
    return -err;
  }
  return fd;
}

// One request and its response over a fresh blocking connection (HELLO).
absl::StatusOr<wire::Response> RoundTrip(const std::string& host, uint16_t port,
                                         const wire::Request& req, int64_t timeout_ms) {
  const int fd = StartConnect(host, port);
  if (fd < 0) return ConnectError(host, port, -fd);
  const int64_t deadline = MonoMs() + timeout_ms;
  auto wait = [&](short events) -> absl::Status {
    pollfd p{fd, events, 0};
    const int64_t left = deadline - MonoMs();
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("timed out talking to ", Where(host, port)));
    }
    return absl::OkStatus();
  };
  std::string out;
  protocol::AppendFrame(req, &out);
  absl::Status st = wait(POLLOUT);
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  if (st.ok()) getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
  if (st.ok() && soerr != 0) st = ConnectError(host, port, soerr);
  size_t off = 0;
  while (st.ok() && off < out.size()) {
    const ssize_t n = send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n > 0)
      off += static_cast<size_t>(n);
    else if (errno == EAGAIN)
      st = wait(POLLOUT);
    else
      st = ConnectError(host, port, errno);
  }
  protocol::FrameDecoder dec;
  std::string_view body;
  char buf[65536];
  while (st.ok()) {
    const auto r = dec.Next(&body);
    if (r == protocol::FrameDecoder::Result::kFrame) break;
    if (r != protocol::FrameDecoder::Result::kNeedMore) {
      st = absl::DataLossError("server sent an invalid frame");
      break;
    }
    st = wait(POLLIN);
    if (!st.ok()) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0)
      dec.Append(buf, static_cast<size_t>(n));
    else if (n == 0)
      st = absl::UnavailableError(absl::StrCat(Where(host, port), " closed the connection"));
    else if (errno != EAGAIN)
      st = ConnectError(host, port, errno);
  }
  close(fd);
  if (!st.ok()) return st;
  wire::Response resp;
  if (!resp.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::DataLossError("server sent a response that does not parse");
  }
  return resp;
}

}  // namespace

struct AsyncClient::Pending {
  Callback done;
  int64_t deadline;
  bool stream = false;  // SUBSCRIBE: stays until a non-OK message
};

struct AsyncClient::Endpoint {
  enum State { kIdle, kConnecting, kConnected, kBackoff };
  int index = 0;
  std::string host;
  uint16_t port = 0;
  std::mutex mu;
  // Guarded by mu.
  std::string out;
  absl::flat_hash_map<uint64_t, Pending> pending;
  std::priority_queue<std::pair<int64_t, uint64_t>, std::vector<std::pair<int64_t, uint64_t>>,
                      std::greater<>>
      deadlines;
  bool wake_requested = false;
  // I/O thread only.
  State state = kIdle;
  int fd = -1;
  int64_t connect_started = 0;
  int64_t retry_at = 0;
  int64_t backoff_ms = 0;
  std::string writing;
  size_t write_off = 0;
  bool want_out = false;
  protocol::FrameDecoder decoder;
};

AsyncClient::AsyncClient(const ClientOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<AsyncClient>> AsyncClient::Connect(const ClientOptions& options) {
  std::unique_ptr<AsyncClient> c(new AsyncClient(options));
  absl::Status st = c->Start();
  if (!st.ok()) return st;
  return c;
}

absl::Status AsyncClient::Start() {
  if (options_.connections_per_port < 1 || options_.connections_per_port > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ClientOptions::connections_per_port must be 1..64, not ", options_.connections_per_port));
  }
  wire::Request hello;
  hello.set_request_id(0);
  hello.mutable_hello()->set_protocol_version(protocol::kProtocolVersion);
  hello.mutable_hello()->set_client_name(options_.client_name);
  auto resp = RoundTrip(options_.host, options_.port, hello,
                        options_.connect_timeout_ms + options_.call_timeout_ms);
  if (!resp.ok()) return resp.status();
  if (resp->code() != wire::OK || !resp->has_hello()) {
    return absl::FailedPreconditionError(absl::StrCat("HELLO refused: ", resp->detail()));
  }
  hello_ = resp->hello();
  if (hello_.protocol_version() != protocol::kProtocolVersion) {
    return absl::FailedPreconditionError(absl::StrCat("server speaks protocol ",
                                                      hello_.protocol_version(), ", this client ",
                                                      protocol::kProtocolVersion));
  }
  auto add = [this](uint16_t port) {
    auto ep = std::make_unique<Endpoint>();
    ep->index = static_cast<int>(endpoints_.size());
    ep->host = options_.host;
    ep->port = port;
    ep->backoff_ms = options_.backoff_initial_ms;
    endpoints_.push_back(std::move(ep));
  };
  for (int k = 0; k < options_.connections_per_port; ++k) add(options_.port);
  if (options_.shard_aware && hello_.shard_count() > 1) {
    for (uint32_t p : hello_.shard_ports()) {
      for (int k = 0; k < options_.connections_per_port; ++k) add(static_cast<uint16_t>(p));
    }
  }
  const size_t ports = endpoints_.size() / static_cast<size_t>(options_.connections_per_port);
  next_socket_ = std::make_unique<std::atomic<uint32_t>[]>(ports);
  for (size_t i = 0; i < ports; ++i) next_socket_[i].store(0);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (epfd_ < 0 || evfd_ < 0 || timerfd_ < 0) {
    return absl::InternalError(absl::StrCat("epoll/eventfd/timerfd failed: ", StrError(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
  ev.data.u64 = kTimerTag;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, timerfd_, &ev);
  io_ = std::thread([this] { IoLoop(); });
  return absl::OkStatus();
}

AsyncClient::~AsyncClient() {
  stop_ = true;
  if (io_.joinable()) {
    WakeIo();
    io_.join();
  }
  for (auto& ep : endpoints_) {
    if (ep->fd >= 0) close(ep->fd);
  }
  if (epfd_ >= 0) close(epfd_);
  if (evfd_ >= 0) close(evfd_);
  if (timerfd_ >= 0) close(timerfd_);
}

void AsyncClient::RunAt(uint64_t when_ns, std::function<void()> fn) {
  std::lock_guard<std::mutex> l(timers_mu_);
  timers_.emplace(when_ns, std::move(fn));
  if (armed_ns_ != 0 && armed_ns_ <= when_ns) return;  // an earlier wake-up is set
  ArmTimerLocked(std::max<uint64_t>(when_ns, 1));      // 0 would disarm the timer
}

void AsyncClient::ArmTimerLocked(uint64_t when_ns) {
  armed_ns_ = when_ns;
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(when_ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(when_ns % 1'000'000'000);
  timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void AsyncClient::RunDueTimers() {
  const uint64_t now = NowNs();
  for (;;) {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> l(timers_mu_);
      auto it = timers_.begin();
      if (it == timers_.end() || it->first > now) {
        // Re-arm for the earliest left (a due time already past fires at once).
        const uint64_t next = it == timers_.end() ? 0 : it->first;
        if (next != armed_ns_) ArmTimerLocked(next);
        return;
      }
      fn = std::move(it->second);
      timers_.erase(it);
    }
    fn();  // outside the lock: it may call RunAt
  }
}

int AsyncClient::RouteFor(const wire::Request& req) const {
  const uint32_t n = hello_.shard_count();
  if (endpoints_.size() <= static_cast<size_t>(options_.connections_per_port) || n <= 1) return -1;
  // The server's own routing table (protocol/op_table.h). A hold that
  // carries a pass goes to its room's home, which checks the pass first.
  const bool has_pass = (req.op_case() == wire::Request::kHold && !req.hold().pass().empty()) ||
                        (req.op_case() == wire::Request::kHoldBestAvailable &&
                         !req.hold_best_available().pass().empty());
  const protocol::Target t = protocol::TargetOf(req, n, hello_.hash_seed(), has_pass);
  const bool direct = t.kind == protocol::Target::kShard || t.kind == protocol::Target::kConfirm;
  return direct && t.shard < n ? static_cast<int>(t.shard) : -1;
}

size_t AsyncClient::in_flight() const {
  size_t n = 0;
  for (const auto& ep : endpoints_) {
    std::lock_guard<std::mutex> l(ep->mu);
    n += ep->pending.size();
  }
  return n;
}

void AsyncClient::WakeIo() {
  const uint64_t one = 1;
  ssize_t unused = write(evfd_, &one, sizeof(one));
  (void)unused;
}

void AsyncClient::Call(wire::Request req, Callback done, int64_t timeout_ms) {
  Send(std::move(req), std::move(done), timeout_ms, false);
}

void AsyncClient::Subscribe(wire::Request req, Callback on_message) {
  Send(std::move(req), std::move(on_message), -1, true);
}

void AsyncClient::Send(wire::Request req, Callback done, int64_t timeout_ms, bool stream) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  req.set_request_id(id);
  const int route = RouteFor(req);
  const size_t per = static_cast<size_t>(options_.connections_per_port);
  const size_t port = route < 0 ? 0 : static_cast<size_t>(route) + 1;
  const size_t socket =
      stream || per == 1 ? 0 : next_socket_[port].fetch_add(1, std::memory_order_relaxed) % per;
  Endpoint& ep = *endpoints_[port * per + socket];
  const int64_t deadline =
      stream ? std::numeric_limits<int64_t>::max()
             : MonoMs() + (timeout_ms < 0 ? options_.call_timeout_ms : timeout_ms);
  bool wake = false;
  bool queued = false;
  {
    std::lock_guard<std::mutex> l(ep.mu);
    if (!stop_) {
      queued = true;
      ep.pending.emplace(id, Pending{std::move(done), deadline, stream});
      if (!stream) ep.deadlines.emplace(deadline, id);
      protocol::AppendFrame(req, &ep.out);
      wake = !ep.wake_requested;
      ep.wake_requested = true;
    }
  }
  if (!queued) {
    // `done` was moved only if the call was queued.
    done(absl::CancelledError("client is shutting down"));  // NOLINT(bugprone-use-after-move)
    return;
  }
  if (wake) WakeIo();
}

int AsyncClient::Dial(Endpoint& ep, int64_t now) {
  const int fd = StartConnect(ep.host, ep.port);
  if (fd < 0) return -fd;
  ep.fd = fd;
  ep.state = Endpoint::kConnecting;
  ep.connect_started = now;
  ep.decoder = protocol::FrameDecoder(0xffffffffu);
  ep.writing.clear();
  ep.write_off = 0;
  if (!options_.auth_token.empty()) {
    wire::Request auth;
    auth.set_request_id(0);
    auth.mutable_auth()->set_token(options_.auth_token);
    protocol::AppendFrame(auth, &ep.writing);
  }
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(ep.index);
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  ep.want_out = true;
  return 0;
}

void AsyncClient::FailEndpoint(Endpoint& ep, const absl::Status& why) {
  if (ep.fd >= 0) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, ep.fd, nullptr);
    close(ep.fd);
    ep.fd = -1;
  }
  ep.state = Endpoint::kBackoff;
  const int64_t now = MonoMs();
  ep.retry_at = now + ep.backoff_ms;
  ep.backoff_ms = std::min(ep.backoff_ms * 2, options_.backoff_max_ms);
  ep.writing.clear();
  ep.write_off = 0;
  absl::flat_hash_map<uint64_t, Pending> failed;
  {
    std::lock_guard<std::mutex> l(ep.mu);
    failed.swap(ep.pending);
    ep.out.clear();
    ep.deadlines = {};
  }
  // Each caller gets its own copy of the error: copies of one absl::Status
  // share a reference-counted rep, and the count is touched in Debian's
  // (uninstrumented) libabsl_status, which TSan reports as a race between the
  // threads that destroy their copies.
  for (auto& [id, p] : failed) p.done(absl::Status(why.code(), why.message()));
}

void AsyncClient::FlushWrites(Endpoint& ep) {
  if (ep.state != Endpoint::kConnected) return;
  for (;;) {
    if (ep.write_off == ep.writing.size()) {
      ep.writing.clear();
      ep.write_off = 0;
      std::lock_guard<std::mutex> l(ep.mu);
      if (ep.out.empty()) break;
      ep.writing.swap(ep.out);
    }
    const ssize_t n = send(ep.fd, ep.writing.data() + ep.write_off,
                           ep.writing.size() - ep.write_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      ep.write_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!ep.want_out) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u64 = static_cast<uint64_t>(ep.index);
        epoll_ctl(epfd_, EPOLL_CTL_MOD, ep.fd, &ev);
        ep.want_out = true;
      }
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    FailEndpoint(ep, absl::UnavailableError(absl::StrCat("connection to ", Where(ep.host, ep.port),
                                                         " lost: ", StrError(errno))));
    return;
  }
  if (ep.want_out) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(ep.index);
    epoll_ctl(epfd_, EPOLL_CTL_MOD, ep.fd, &ev);
    ep.want_out = false;
  }
}

void AsyncClient::HandleReadable(Endpoint& ep) {
  char buf[64 * 1024];
  for (int rounds = 0; rounds < 8; ++rounds) {
    const ssize_t n = recv(ep.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      FailEndpoint(ep, absl::UnavailableError(absl::StrCat(
                           "connection to ", Where(ep.host, ep.port),
                           " lost: ", n == 0 ? "closed by the server" : StrError(errno))));
      return;
    }
    ep.decoder.Append(buf, static_cast<size_t>(n));
    std::string_view body;
    for (;;) {
      const auto r = ep.decoder.Next(&body);
      if (r == protocol::FrameDecoder::Result::kNeedMore) break;
      wire::Response resp;
      if (r != protocol::FrameDecoder::Result::kFrame ||
          !resp.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
        FailEndpoint(
            ep, absl::DataLossError(absl::StrCat("invalid frame from ", Where(ep.host, ep.port))));
        return;
      }
      if (resp.request_id() == 0) {
        // AUTH (sent on connect) or a protocol error not tied to a request.
        if (resp.code() != wire::OK && resp.code() != wire::UNAUTHENTICATED) {
          FailEndpoint(ep, absl::InternalError(absl::StrCat("server error: ", resp.detail())));
          return;
        }
        continue;
      }
      Callback done;
      {
        std::lock_guard<std::mutex> l(ep.mu);
        auto it = ep.pending.find(resp.request_id());
        if (it == ep.pending.end()) continue;  // timed out already
        if (it->second.stream && resp.code() == wire::OK) {
          done = it->second.done;  // the stream goes on
        } else {
          done = std::move(it->second.done);
          ep.pending.erase(it);
        }
      }
      done(std::move(resp));
    }
    if (static_cast<size_t>(n) < sizeof(buf)) break;
  }
}

void AsyncClient::ExpireDeadlines(int64_t now) {
  for (auto& ep : endpoints_) {
    std::vector<Callback> expired;
    {
      std::lock_guard<std::mutex> l(ep->mu);
      while (!ep->deadlines.empty() && ep->deadlines.top().first <= now) {
        const uint64_t id = ep->deadlines.top().second;
        ep->deadlines.pop();
        auto it = ep->pending.find(id);
        if (it == ep->pending.end()) continue;
        expired.push_back(std::move(it->second.done));
        ep->pending.erase(it);
      }
    }
    for (auto& cb : expired) {
      cb(absl::DeadlineExceededError(absl::StrCat("no response from ", Where(ep->host, ep->port),
                                                  " within the call timeout")));
    }
  }
}

void AsyncClient::IoLoop() {
  epoll_event events[64];
  int64_t last_expire = MonoMs();
  while (!stop_) {
    const int n = epoll_wait(epfd_, events, 64, 10);
    const int64_t now = MonoMs();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeTag || events[i].data.u64 == kTimerTag) {
        uint64_t v;
        ssize_t unused = read(events[i].data.u64 == kWakeTag ? evfd_ : timerfd_, &v, sizeof(v));
        (void)unused;
        if (events[i].data.u64 == kTimerTag) RunDueTimers();
        continue;
      }
      Endpoint& ep = *endpoints_[events[i].data.u64];
      if (ep.fd < 0) continue;
      if (ep.state == Endpoint::kConnecting &&
          (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(ep.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          FailEndpoint(ep, ConnectError(ep.host, ep.port, err));
          continue;
        }
        ep.state = Endpoint::kConnected;
        ep.backoff_ms = options_.backoff_initial_ms;
      }
      if (ep.state != Endpoint::kConnected) continue;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) HandleReadable(ep);
      if (ep.state == Endpoint::kConnected && (events[i].events & EPOLLOUT)) FlushWrites(ep);
    }
    // Dial where calls are waiting, and push out newly queued frames.
    for (auto& epp : endpoints_) {
      Endpoint& ep = *epp;
      bool has_work;
      {
        std::lock_guard<std::mutex> l(ep.mu);
        ep.wake_requested = false;
        has_work = !ep.pending.empty();
      }
      if (!has_work) continue;
      if (ep.state == Endpoint::kIdle || (ep.state == Endpoint::kBackoff && now >= ep.retry_at)) {
        if (const int err = Dial(ep, now); err != 0) {
          FailEndpoint(ep, ConnectError(ep.host, ep.port, err));
          continue;
        }
      }
      if (ep.state == Endpoint::kConnecting &&
          now - ep.connect_started > options_.connect_timeout_ms) {
        FailEndpoint(ep, absl::DeadlineExceededError(
                             absl::StrCat("connect to ", Where(ep.host, ep.port), " timed out")));
        continue;
      }
      FlushWrites(ep);
    }
    if (now - last_expire >= 5) {
      ExpireDeadlines(now);
      last_expire = now;
    }
  }
  for (auto& ep : endpoints_) FailEndpoint(*ep, absl::CancelledError("client is shutting down"));
}

}  // namespace seatlock
