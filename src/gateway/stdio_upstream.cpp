// StdioUpstream: one child process, one I/O thread that polls the child's stdout, stderr and
// stdin (non-blocking), the call deadlines and the restart timer. The I/O thread writes to the
// child with SIGPIPE blocked on that thread, so a dead child never signals the process. A caller
// writes its request line itself when nothing is queued before it and the process ignores SIGPIPE
// (jitgate serve does): one wake-up of the I/O thread fewer per call.
#include <jitgate/gateway/stdio_upstream.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/hex.hpp"

extern char** environ;

namespace jitgate::gateway {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended (wait status " + std::to_string(status) + ")";
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

bool set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// Clears a SIGPIPE left pending on this thread by a write to a closed pipe.
void consume_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  timespec zero{};
  while (::sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {}
}

// Appends `s` as a JSON string literal.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      common::append_hex(out, u);
    } else {
      out += c;
    }
  }
  out += '"';
}

// Appends `v` serialized, through a stack buffer (no temporary string).
void append_json(std::string& out, const json::value& v) {
  json::serializer sr;
  sr.reset(&v);
  char buf[4096];
  while (!sr.done()) {
    auto part = sr.read(buf, sizeof buf);
    out.append(part.data(), part.size());
  }
}

bool sigpipe_ignored() {
  struct sigaction sa {};
  return ::sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

// `command` as exec would find it in the child's PATH (not ours: the child's environment is its
// own).
std::optional<std::string> resolve_command(const std::string& command, const std::map<std::string, std::string>& env) {
  if (command.find('/') != std::string::npos) return command;
  auto it = env.find("PATH");
  std::string_view path = it != env.end() ? std::string_view(it->second) : "/usr/bin:/bin";
  while (true) {
    auto colon = path.find(':');
    std::string dir(path.substr(0, colon));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + command;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return std::nullopt;
    path.remove_prefix(colon + 1);
  }
}

}  // namespace

struct StdioUpstream::Impl : std::enable_shared_from_this<StdioUpstream::Impl> {
  struct Pending {
    std::function<void(CallResult)> done;
    Clock::time_point deadline;
    bool counted = true;  // false for the internal initialize call
    bool text = false;    // the caller takes a plain result as text (request_text)
  };
  using Completion = std::pair<std::function<void(CallResult)>, CallResult>;

  StdioUpstreamConfig cfg;
  StdioUpstreamHandlers handlers;

  mutable std::mutex mu;
  mutable std::condition_variable state_cv;
  // Guarded by mu.
  UpstreamState state = UpstreamState::stopped;
  bool stopping = false;
  bool started = false;
  pid_t pid = -1;
  std::uint64_t generation = 0;  // one per child; answers to an older child's requests drop
  std::string outbuf;            // bytes for the child's stdin not yet written
  std::map<std::int64_t, Pending> pending;
  std::size_t counted_in_flight = 0;
  std::int64_t next_id = 1;
  json::value init_result;
  UpstreamHealth stats;
  int in_fd = -1;  // the child's stdin; set and closed by the I/O thread, written by whoever holds mu
  Clock::time_point poll_until = Clock::time_point::max();  // when the I/O thread's poll ends at the latest
  bool caller_writes = false;                               // callers may write to in_fd (SIGPIPE is ignored): set at start

  // I/O thread only.
  std::thread io;
  int wake_r = -1, wake_w = -1;
  int out_fd = -1, err_fd = -1;
  std::string line, err_line;
  bool discarding = false, err_truncated = false;
  unsigned consecutive_failures = 0;
  milliseconds backoff{0};
  std::optional<Clock::time_point> next_spawn;
  std::optional<std::string> doomed;  // why the current child must be killed
  Clock::time_point last_reap{};

  Impl(StdioUpstreamConfig c, StdioUpstreamHandlers h) : cfg(std::move(c)), handlers(std::move(h)), backoff(cfg.backoff_initial) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error(errno_text("gateway: pipe2", errno));
    wake_r = fds[0];
    wake_w = fds[1];
  }

  ~Impl() {
    close_fd(wake_r);
    close_fd(wake_w);
  }

  // ---- shared helpers -------------------------------------------------------------------

  jsonrpc::Error fault(UpstreamError code, std::string message) const {
    return jsonrpc::Error{static_cast<std::int32_t>(code), std::move(message), json::value(json::object{{"upstream", cfg.name}})};
  }

  void log(LogLevel level, std::string_view text) const {
    if (handlers.on_log) {
      handlers.on_log(LogSource::upstream, level, text);
      return;
    }
    std::cerr << "gateway[" << cfg.name << "]: " << text << '\n';
  }

  void wake() const {
    char c = 1;
    [[maybe_unused]] auto n = ::write(wake_w, &c, 1);  // full pipe: a wake is already pending
  }

  static void run_completions(std::vector<Completion>& done) {
    for (auto& [fn, result] : done)
      if (fn) fn(std::move(result));
    done.clear();
  }

  void set_state(UpstreamState s) {
    {
      std::lock_guard lock(mu);
      if (state == s) return;
      state = s;
    }
    state_cv.notify_all();
    if (handlers.on_state) handlers.on_state(s);
  }

  // Appends one message line for the child; false when the write buffer is full.
  bool enqueue_locked(const json::value& message) {
    std::string text = jsonrpc::serialize(message);
    if (outbuf.size() + text.size() + 1 > cfg.max_write_buffer_bytes) return false;
    outbuf += text;
    outbuf += '\n';
    return true;
  }

  // ---- caller side ----------------------------------------------------------------------

  CallId request(std::string method, json::value params, std::function<void(CallResult)> done,
                 std::optional<milliseconds> timeout, bool text = false) {
    CallResult refused;
    std::int64_t id = 0;
    bool need_wake = true;
    {
      std::lock_guard lock(mu);
      if (state != UpstreamState::ready || pid < 0) {
        refused.error = fault(UpstreamError::unavailable, "upstream " + cfg.name + " is " + std::string(to_string(state)));
      } else if (counted_in_flight >= cfg.max_in_flight) {
        refused.error = fault(UpstreamError::overloaded,
                              "upstream " + cfg.name + " has " + std::to_string(cfg.max_in_flight) + " calls in flight");
      } else {
        id = next_id++;
        if (!enqueue_request_locked(id, method, params)) {
          refused.error = fault(UpstreamError::overloaded, "upstream " + cfg.name + " write buffer is full");
        } else {
          auto deadline = Clock::now() + timeout.value_or(cfg.default_timeout);
          pending.emplace(id, Pending{std::move(done), deadline, true, text});
          ++counted_in_flight;
          // Written here when possible; the I/O thread is woken only for what is left, or for a
          // deadline before the end of its current poll.
          need_wake = !write_now_locked() || deadline < poll_until;
        }
      }
    }
    if (refused.error) {
      if (done) done(std::move(refused));
      return 0;
    }
    if (need_wake) wake();
    return static_cast<CallId>(id);
  }

  // Appends one request line, its params serialized once, straight from the caller's tree.
  bool enqueue_request_locked(std::int64_t id, std::string_view method, const json::value& params) {
    std::size_t before = outbuf.size();
    char num[24];
    outbuf += R"({"jsonrpc":"2.0","id":)";
    outbuf.append(num, static_cast<std::size_t>(std::to_chars(num, num + sizeof num, id).ptr - num));
    outbuf += R"(,"method":)";
    append_json_string(outbuf, method);
    if (!params.is_null()) {
      outbuf += R"(,"params":)";
      append_json(outbuf, params);
    }
    outbuf += "}\n";
    if (outbuf.size() > cfg.max_write_buffer_bytes) {
      outbuf.resize(before);
      return false;
    }
    return true;
  }

  // A caller writes what is queued (its own line, when nothing was before it) to the child's
  // stdin. True when nothing is left for the I/O thread; otherwise it must be woken to finish.
  bool write_now_locked() {
    if (!caller_writes || in_fd < 0 || outbuf.empty()) return outbuf.empty();
    while (!outbuf.empty()) {
      ssize_t n = ::write(in_fd, outbuf.data(), outbuf.size());
      if (n > 0) {
        outbuf.erase(0, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;  // full pipe, or a closed one: the I/O thread polls, or notices the child's end
    }
    return true;
  }

  bool cancel(CallId call, std::string_view reason) {
    std::function<void(CallResult)> done;
    {
      std::lock_guard lock(mu);
      auto it = pending.find(static_cast<std::int64_t>(call));
      if (it == pending.end() || !it->second.counted) return false;
      done = std::move(it->second.done);
      --counted_in_flight;
      pending.erase(it);
      if (pid >= 0)
        enqueue_locked(jsonrpc::to_json(jsonrpc::Notification{
            "notifications/cancelled",
            json::object{{"requestId", static_cast<std::int64_t>(call)}, {"reason", std::string(reason)}}}));
    }
    wake();
    if (done) done(CallResult{std::nullopt, fault(UpstreamError::cancelled, "call to upstream " + cfg.name + " cancelled")});
    return true;
  }

  // The call a message from the child names as its own (params._meta), if that call is in flight.
  CallId related_of(const json::value& params) const {
    const auto* p = params.if_object();
    const auto* meta = p ? p->if_contains("_meta") : nullptr;
    const auto* id = meta && meta->is_object() ? meta->get_object().if_contains(kRelatedRequestMeta) : nullptr;
    if (!id || !id->is_int64() || id->get_int64() <= 0) return 0;
    std::lock_guard lock(mu);
    auto it = pending.find(id->get_int64());
    return it != pending.end() && it->second.counted ? static_cast<CallId>(id->get_int64()) : 0;
  }

  bool notify(std::string method, json::value params) {
    {
      std::lock_guard lock(mu);
      if (state != UpstreamState::ready || pid < 0) return false;
      if (!enqueue_locked(jsonrpc::to_json(jsonrpc::Notification{std::move(method), std::move(params)}))) return false;
    }
    wake();
    return true;
  }

  void answer(std::uint64_t gen, const jsonrpc::Id& id, CallResult result) {
    {
      std::lock_guard lock(mu);
      if (gen != generation || pid < 0) return;  // that child is gone
      json::object msg =
          result.ok() ? jsonrpc::result_response(id, std::move(*result.result))
                      : jsonrpc::error_response(
                            id, result.error.value_or(jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "no answer")));
      if (!enqueue_locked(msg)) return;
    }
    wake();
  }

  // ---- I/O thread -----------------------------------------------------------------------

  std::map<std::string, std::string> child_env() const {
    std::map<std::string, std::string> env = cfg.env;
    if (cfg.inherit_path_home) {
      for (const char* name : {"PATH", "HOME"}) {
        const char* v = std::getenv(name);
        if (v && !env.count(name)) env[name] = v;
      }
    }
    return env;
  }

  // Spawns the child and sends initialize; on failure schedules the next attempt.
  void spawn_child() {
    next_spawn.reset();
    auto env = child_env();
    auto path = resolve_command(cfg.command, env);
    if (!path) {
      start_failed("command " + cfg.command + " not found in the child's PATH");
      return;
    }
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      int e = errno;
      for (int* p : {in, out, err}) {
        close_fd(p[0]);
        close_fd(p[1]);
      }
      start_failed(errno_text("pipe2", e));
      return;
    }

    std::vector<std::string> argv_s{*path};
    argv_s.insert(argv_s.end(), cfg.args.begin(), cfg.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (auto& [k, v] : env) env_s.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    // Our own descriptors are close-on-exec; this also closes whatever a library left open.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!cfg.working_directory.empty()) posix_spawn_file_actions_addchdir_np(&fa, cfg.working_directory.c_str());

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Own process group (terminal signals and our kill reach the child's own children too);
    // an empty signal mask, since this thread blocks SIGPIPE; default dispositions.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t mask;
    sigemptyset(&mask);
    posix_spawnattr_setsigmask(&attr, &mask);
    sigset_t def;
    sigemptyset(&def);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&def, s);
    posix_spawnattr_setsigdefault(&attr, &def);

    pid_t child = -1;
    int rc = ::posix_spawn(&child, path->c_str(), &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close_fd(in[0]);
    close_fd(out[1]);
    close_fd(err[1]);
    if (rc != 0) {
      close_fd(in[1]);
      close_fd(out[0]);
      close_fd(err[0]);
      start_failed(errno_text(("spawn " + *path).c_str(), rc));
      return;
    }
    out_fd = out[0];
    err_fd = err[0];
    set_nonblocking(in[1]);
    set_nonblocking(out_fd);
    set_nonblocking(err_fd);
    line.clear();
    err_line.clear();
    discarding = err_truncated = false;

    std::uint64_t gen;
    {
      std::lock_guard lock(mu);
      if (stats.starts++ > 0) ++stats.restarts;
      in_fd = in[1];
      pid = child;
      gen = ++generation;
      outbuf.clear();
      init_result = nullptr;
      json::object params{
          {"protocolVersion", cfg.protocol_version}, {"capabilities", cfg.client_capabilities}, {"clientInfo", cfg.client_info}};
      std::int64_t id = next_id++;
      enqueue_locked(jsonrpc::to_json(jsonrpc::Request{id, "initialize", std::move(params)}));
      pending.emplace(id, Pending{[this, gen](CallResult r) { on_initialize(gen, std::move(r)); },
                                  Clock::now() + cfg.initialize_timeout, false});
    }
    set_state(UpstreamState::starting);
    log(LogLevel::info, "started " + *path + " (pid " + std::to_string(child) + ")");
  }

  void on_initialize(std::uint64_t gen, CallResult r) {
    {
      std::lock_guard lock(mu);
      if (gen != generation || pid < 0) return;  // that child already ended
    }
    std::string problem;
    if (!r.ok())
      problem = "initialize failed: " + r.error->message;
    else if (!r.result || !r.result->is_object() || !r.result->as_object().contains("protocolVersion"))
      problem = "initialize result has no protocolVersion";
    else if (!r.result->as_object().at("protocolVersion").is_string())
      problem = "initialize result's protocolVersion is not a string";
    if (!problem.empty()) {
      doomed = problem;  // killed from the loop, not from inside the stdout parser
      return;
    }
    {
      std::lock_guard lock(mu);
      init_result = std::move(*r.result);
      enqueue_locked(jsonrpc::to_json(jsonrpc::Notification{"notifications/initialized", nullptr}));
      consecutive_failures = 0;
      backoff = cfg.backoff_initial;
    }
    set_state(UpstreamState::ready);
    log(LogLevel::info, "ready");
  }

  void start_failed(std::string reason) {
    {
      std::lock_guard lock(mu);
      stats.last_error = reason;
    }
    log(LogLevel::error, reason);
    schedule_restart();
  }

  void schedule_restart() {
    ++consecutive_failures;
    if (cfg.max_consecutive_failures > 0 && consecutive_failures >= cfg.max_consecutive_failures) {
      log(LogLevel::error, "giving up after " + std::to_string(consecutive_failures) + " failed starts");
      set_state(UpstreamState::failed);
      return;
    }
    next_spawn = Clock::now() + backoff;
    log(LogLevel::warning, "restarting in " + std::to_string(backoff.count()) + " ms");
    backoff = std::min(backoff * 2, cfg.backoff_max);
    set_state(UpstreamState::restarting);
  }

  // The child ended (or was killed): take its last output, fail its calls, plan the restart.
  void child_ended(int status, const std::string& why) {
    drain_stdout();
    drain_stderr();
    flush_stderr_line();
    {
      std::lock_guard lock(mu);
      close_fd(in_fd);
    }
    close_fd(out_fd);
    close_fd(err_fd);
    std::string reason = why.empty() ? exit_text(status) : why + " (" + exit_text(status) + ")";
    std::vector<Completion> done;
    bool left_ready = false;
    {
      std::lock_guard lock(mu);
      // Out of `ready` before any caller learns of the exit, so no new call lands on a dead child.
      if (!stopping && state != UpstreamState::restarting) {
        state = UpstreamState::restarting;
        left_ready = true;
      }
      pid = -1;
      ++generation;
      outbuf.clear();
      stats.last_error = reason;
      for (auto& [id, p] : pending)
        done.emplace_back(std::move(p.done),
                          CallResult{std::nullopt, fault(UpstreamError::unavailable, "upstream " + cfg.name + " " + reason)});
      pending.clear();
      counted_in_flight = 0;
    }
    if (left_ready) {
      state_cv.notify_all();
      if (handlers.on_state) handlers.on_state(UpstreamState::restarting);
    }
    log(LogLevel::warning, "child " + reason);
    run_completions(done);
    bool stop_now;
    {
      std::lock_guard lock(mu);
      stop_now = stopping;
    }
    if (!stop_now) schedule_restart();
  }

  void kill_child(const std::string& why) {
    pid_t p;
    {
      std::lock_guard lock(mu);
      p = pid;
    }
    if (p < 0) return;
    ::kill(-p, SIGKILL);
    int status = 0;
    while (::waitpid(p, &status, 0) < 0 && errno == EINTR) {}
    child_ended(status, why);
  }

  void reap_if_exited() {
    pid_t p;
    {
      std::lock_guard lock(mu);
      p = pid;
    }
    if (p < 0) return;
    int status = 0;
    if (::waitpid(p, &status, WNOHANG) == p) child_ended(status, "");
  }

  void on_stdout_eof() {
    close_fd(out_fd);
    pid_t p;
    {
      std::lock_guard lock(mu);
      p = pid;
    }
    // The child closed stdout; it is most likely exiting. Give it a moment, then make sure.
    for (int i = 0; i < 100 && p >= 0; ++i) {
      int status = 0;
      if (::waitpid(p, &status, WNOHANG) == p) {
        child_ended(status, "");
        return;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    kill_child("closed its stdout");
  }

  // Reads what stdout holds now; returns false at end of file. A short read took everything the
  // pipe held: the next poll reports what comes after it (one read(2) per answer, not two).
  bool read_stdout() {
    char buf[65536];
    while (out_fd >= 0) {
      ssize_t n = ::read(out_fd, buf, sizeof buf);
      if (n > 0) {
        on_stdout_bytes(buf, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < sizeof buf) return true;
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    return true;
  }
  void drain_stdout() {
    if (out_fd >= 0) read_stdout();
    if (!line.empty() && !discarding) handle_line(std::exchange(line, {}));
    line.clear();
  }

  void on_stdout_bytes(const char* p, std::size_t n) {
    while (n > 0) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
      std::size_t seg = nl ? static_cast<std::size_t>(nl - p) : n;
      if (discarding) {
        if (nl) discarding = false;
      } else if (line.size() + seg > cfg.max_line_bytes) {
        oversized_line();
        line.clear();
        discarding = nl == nullptr;
      } else {
        line.append(p, seg);
        if (nl) handle_line(std::exchange(line, {}));
      }
      std::size_t used = nl ? seg + 1 : n;
      p += used;
      n -= used;
    }
  }

  void oversized_line() {
    {
      std::lock_guard lock(mu);
      ++stats.garbage_lines;
      ++stats.oversized_lines;
    }
    log(LogLevel::warning,
        "stdout line over " + std::to_string(cfg.max_line_bytes) + " bytes dropped; resynchronizing at the next newline");
  }

  void garbage(std::string_view text, std::string_view why) {
    {
      std::lock_guard lock(mu);
      ++stats.garbage_lines;
    }
    std::string shown(text.substr(0, 200));
    log(LogLevel::warning, "stdout garbage (" + std::string(why) + "): " + shown);
  }

  void handle_line(std::string text) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) return;
    // The usual answer, a plain result for a caller that passes it on: checked, never built.
    if (auto plain = jsonrpc::scan_result_text(text); plain && on_result_text(*plain)) return;
    auto body = jsonrpc::decode(text);
    if (body.parse_error) {
      garbage(text, "not JSON");
      return;
    }
    for (auto& item : body.items) {
      if (auto* bad = std::get_if<jsonrpc::Invalid>(&item)) {
        garbage(text, bad->error.message);
        if (!body.batch) fail_malformed_answer(text, bad->id, bad->error.message);
        continue;
      }
      // One message's handling never ends the I/O thread (and with it every call on it).
      try {
        auto& msg = std::get<jsonrpc::Message>(item);
        if (auto* r = std::get_if<jsonrpc::Response>(&msg))
          on_response(*r);
        else if (auto* q = std::get_if<jsonrpc::Request>(&msg))
          on_upstream_request(*q);
        else if (handlers.on_notification) {
          auto& n = std::get<jsonrpc::Notification>(msg);
          handlers.on_notification(n, related_of(n.params));
        }
      } catch (const std::exception& e) {
        garbage(text, std::string("its handling failed: ") + e.what());
      }
    }
  }

  // A malformed answer (an error code that is not a 32-bit integer, result and error both, ...)
  // to a call in flight fails that call at once instead of leaving it to its timeout. A malformed
  // request of the upstream's own with the same id is not an answer: it names a method.
  void fail_malformed_answer(std::string_view text, const jsonrpc::Id& id, const std::string& why) {
    if (!id.is_int64()) return;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object() || v.get_object().contains("method")) return;
    Pending p;
    {
      std::lock_guard lock(mu);
      auto it = pending.find(id.as_int64());
      if (it == pending.end()) return;
      p = std::move(it->second);
      if (p.counted) --counted_in_flight;
      pending.erase(it);
    }
    if (p.done)
      p.done(CallResult{std::nullopt, fault(UpstreamError::bad_response,
                                            "upstream " + cfg.name + " answered with a malformed message: " + why)});
  }

  // False, leaving the line to the general path, unless the call is in flight and takes text.
  bool on_result_text(const jsonrpc::ResultText& plain) {
    Pending p;
    {
      std::lock_guard lock(mu);
      auto it = pending.find(plain.id);
      if (it == pending.end() || !it->second.text) return false;
      p = std::move(it->second);
      if (p.counted) --counted_in_flight;
      pending.erase(it);
    }
    CallResult result;
    result.result_text.assign(plain.result);
    if (p.done) p.done(std::move(result));
    return true;
  }

  void on_response(jsonrpc::Response& r) {
    Pending p;
    {
      std::lock_guard lock(mu);
      auto it = r.id.is_int64() ? pending.find(r.id.as_int64()) : pending.end();
      if (it == pending.end()) {
        ++stats.unmatched_responses;
        it = pending.end();
      } else {
        p = std::move(it->second);
        if (p.counted) --counted_in_flight;
        pending.erase(it);
      }
    }
    if (!p.done) {
      log(LogLevel::warning, "response to unknown id " + jsonrpc::serialize(r.id));
      return;
    }
    CallResult result;
    if (r.error)
      result.error = std::move(r.error);
    else
      result.result = std::move(r.result);
    p.done(std::move(result));
  }

  void on_upstream_request(const jsonrpc::Request& q) {
    std::uint64_t gen;
    {
      std::lock_guard lock(mu);
      gen = generation;
    }
    if (!handlers.on_request) {
      answer(gen, q.id,
             CallResult{std::nullopt,
                        jsonrpc::Error::make(jsonrpc::ErrorCode::method_not_found, "client does not handle " + q.method)});
      return;
    }
    std::weak_ptr<Impl> self = weak_from_this();
    handlers.on_request(
        q,
        [self, gen, id = q.id](CallResult r) {
          if (auto impl = self.lock()) impl->answer(gen, id, std::move(r));
        },
        related_of(q.params));
  }

  void read_stderr() {
    char buf[8192];
    while (err_fd >= 0) {
      ssize_t n = ::read(err_fd, buf, sizeof buf);
      if (n > 0) {
        for (ssize_t i = 0; i < n; ++i) {
          char c = buf[i];
          if (c == '\n') {
            flush_stderr_line();
          } else if (err_line.size() < cfg.max_stderr_line_bytes) {
            err_line += c;
          } else {
            err_truncated = true;
          }
        }
        continue;
      }
      if (n == 0) {
        flush_stderr_line();
        close_fd(err_fd);
        return;
      }
      if (errno == EINTR) continue;
      return;
    }
  }
  void drain_stderr() { read_stderr(); }
  void flush_stderr_line() {
    if (err_line.empty() && !err_truncated) return;
    if (!err_line.empty() && err_line.back() == '\r') err_line.pop_back();
    if (err_truncated) err_line += " [truncated]";
    if (handlers.on_log)
      handlers.on_log(LogSource::child_stderr, LogLevel::info, err_line);
    else
      std::cerr << cfg.name << ": " << err_line << '\n';
    err_line.clear();
    err_truncated = false;
  }

  void flush_stdin() {
    std::lock_guard lock(mu);
    while (in_fd >= 0 && !outbuf.empty()) {
      ssize_t n = ::write(in_fd, outbuf.data(), outbuf.size());
      if (n > 0) {
        outbuf.erase(0, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // EPIPE: the child closed stdin; its exit is noticed by the stdout and wait checks.
      consume_sigpipe();
      outbuf.clear();
      close_fd(in_fd);
    }
  }

  void expire(Clock::time_point now) {
    std::vector<Completion> done;
    bool init_timed_out = false;
    {
      std::lock_guard lock(mu);
      for (auto it = pending.begin(); it != pending.end();) {
        if (it->second.deadline > now) {
          ++it;
          continue;
        }
        if (!it->second.counted) {
          init_timed_out = true;
          ++it;
          continue;
        }
        ++stats.timeouts;
        --counted_in_flight;
        done.emplace_back(
            std::move(it->second.done),
            CallResult{std::nullopt, fault(UpstreamError::timeout, "upstream " + cfg.name + " did not answer in time")});
        enqueue_locked(jsonrpc::to_json(
            jsonrpc::Notification{"notifications/cancelled", json::object{{"requestId", it->first}, {"reason", "timeout"}}}));
        it = pending.erase(it);
      }
    }
    run_completions(done);
    if (init_timed_out) kill_child("did not answer initialize in time");
  }

  milliseconds poll_timeout(Clock::time_point now) {
    auto next = now + milliseconds(100);  // also the cadence of the exit check
    if (next_spawn) next = std::min(next, *next_spawn);
    {
      // With the deadlines read under the same lock: a call added later than this is compared
      // against it (request() wakes the loop for an earlier deadline).
      std::lock_guard lock(mu);
      for (auto& [id, p] : pending) next = std::min(next, p.deadline);
      poll_until = next;
    }
    return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(next - now));
  }

  void run() {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);

    spawn_child();
    while (true) {
      {
        std::lock_guard lock(mu);
        if (stopping) break;
      }
      pollfd fds[4];
      nfds_t n = 0;
      fds[n++] = {wake_r, POLLIN, 0};
      int out_i = -1, err_i = -1, in_i = -1;
      if (out_fd >= 0) out_i = static_cast<int>(n), fds[n++] = {out_fd, POLLIN, 0};
      if (err_fd >= 0) err_i = static_cast<int>(n), fds[n++] = {err_fd, POLLIN, 0};
      {
        std::lock_guard lock(mu);
        if (in_fd >= 0 && !outbuf.empty()) in_i = static_cast<int>(n), fds[n++] = {in_fd, POLLOUT, 0};
      }

      int rc = ::poll(fds, n, static_cast<int>(poll_timeout(Clock::now()).count()));
      if (rc < 0 && errno != EINTR) {
        log(LogLevel::error, errno_text("poll", errno));
        std::this_thread::sleep_for(milliseconds(10));
      }
      if (rc > 0 && fds[0].revents) {
        char buf[256];
        while (::read(wake_r, buf, sizeof buf) > 0) {}
      }
      if (rc > 0 && err_i >= 0 && fds[err_i].revents) read_stderr();
      if (rc > 0 && out_i >= 0 && fds[out_i].revents && !read_stdout()) on_stdout_eof();
      if (rc > 0 && in_i >= 0 && (fds[in_i].revents & (POLLERR | POLLHUP))) {
        std::lock_guard lock(mu);
        outbuf.clear();
        close_fd(in_fd);
      }
      if (doomed) kill_child(*std::exchange(doomed, std::nullopt));
      flush_stdin();
      auto now = Clock::now();
      expire(now);
      // A child that exits closes its stdout, which the poll reports; the wait is for one whose
      // stdout lives on in its own children: at the poll's cadence, not after every answer.
      if (rc == 0 || out_fd < 0 || now - last_reap >= milliseconds(100)) {
        last_reap = now;
        reap_if_exited();
      }
      bool idle;
      {
        std::lock_guard lock(mu);
        idle = pid < 0 && !stopping;
      }
      if (idle && next_spawn && Clock::now() >= *next_spawn) spawn_child();
    }
    shutdown_child();
    set_state(UpstreamState::stopped);
  }

  void shutdown_child() {
    pid_t p;
    std::vector<Completion> done;
    {
      std::lock_guard lock(mu);
      p = pid;
      for (auto& [id, pe] : pending)
        done.emplace_back(std::move(pe.done),
                          CallResult{std::nullopt, fault(UpstreamError::unavailable, "upstream " + cfg.name + " stopped")});
      pending.clear();
      counted_in_flight = 0;
      ++generation;
    }
    // Callers waiting on initialize are internal and ignore the stale generation.
    run_completions(done);
    if (p >= 0) {
      {
        std::lock_guard lock(mu);
        close_fd(in_fd);  // many stdio servers exit on end of input
      }
      ::kill(-p, SIGTERM);
      int status = 0;
      bool exited = false;
      for (auto deadline = Clock::now() + cfg.kill_grace; Clock::now() < deadline;) {
        read_stderr();
        if (::waitpid(p, &status, WNOHANG) == p) {
          exited = true;
          break;
        }
        std::this_thread::sleep_for(milliseconds(5));
      }
      if (!exited) {
        log(LogLevel::warning, "child ignored SIGTERM; SIGKILL");
        ::kill(-p, SIGKILL);
        while (::waitpid(p, &status, 0) < 0 && errno == EINTR) {}
      }
      drain_stderr();
      flush_stderr_line();
      std::lock_guard lock(mu);
      pid = -1;
    }
    {
      std::lock_guard lock(mu);
      close_fd(in_fd);
    }
    close_fd(out_fd);
    close_fd(err_fd);
  }
};

StdioUpstream::StdioUpstream(StdioUpstreamConfig config, UpstreamHandlers handlers)
    : impl_(std::make_shared<Impl>(std::move(config), std::move(handlers))) {}

StdioUpstream::~StdioUpstream() { stop(); }

void StdioUpstream::start() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->started) return;
    impl_->started = true;
    impl_->state = UpstreamState::starting;
    impl_->caller_writes = sigpipe_ignored();
  }
  impl_->state_cv.notify_all();
  impl_->io = std::thread([impl = impl_.get()] { impl->run(); });
}

void StdioUpstream::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->io.joinable()) return;
    impl_->stopping = true;
  }
  impl_->wake();
  impl_->io.join();
}

bool StdioUpstream::wait_ready(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  impl_->state_cv.wait_for(lock, timeout, [&] {
    auto s = impl_->state;
    return s == UpstreamState::ready || s == UpstreamState::failed || s == UpstreamState::stopped;
  });
  return impl_->state == UpstreamState::ready;
}

const std::string& StdioUpstream::name() const { return impl_->cfg.name; }

CallId StdioUpstream::request(std::string method, json::value params, std::function<void(CallResult)> done,
                              std::optional<std::chrono::milliseconds> timeout) {
  return impl_->request(std::move(method), std::move(params), std::move(done), timeout);
}

CallId StdioUpstream::request_text(std::string method, json::value params, std::function<void(CallResult)> done,
                                   std::optional<std::chrono::milliseconds> timeout) {
  return impl_->request(std::move(method), std::move(params), std::move(done), timeout, true);
}

bool StdioUpstream::cancel(CallId call, std::string_view reason) { return impl_->cancel(call, reason); }

bool StdioUpstream::notify(std::string method, json::value params) { return impl_->notify(std::move(method), std::move(params)); }

UpstreamState StdioUpstream::state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->state;
}

UpstreamHealth StdioUpstream::health() const {
  std::lock_guard lock(impl_->mu);
  UpstreamHealth h = impl_->stats;
  h.state = impl_->state;
  h.in_flight = impl_->counted_in_flight;
  h.pid = impl_->pid;
  return h;
}

json::value StdioUpstream::initialize_result() const {
  std::lock_guard lock(impl_->mu);
  return impl_->init_result;
}

}  // namespace jitgate::gateway
