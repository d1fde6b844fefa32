// An Outbound that records what the dispatcher sends, for tests of the core without a transport.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include "jitgate/mcp/server.hpp"

namespace testsupport {

class CaptureOutbound : public jitgate::mcp::Outbound {
 public:
  void send(boost::json::object m) override {
    std::lock_guard l(mu_);
    sent_.push_back(std::move(m));
    cv_.notify_all();
  }
  void complete(std::optional<boost::json::object> r) override {
    std::lock_guard l(mu_);
    done_ = true;
    response_ = std::move(r);
    cv_.notify_all();
  }
  // Waits for the final response; nullopt when cancelled (or on timeout, which fails the caller's checks).
  std::optional<boost::json::object> wait(std::chrono::milliseconds t = std::chrono::seconds(5)) {
    std::unique_lock l(mu_);
    cv_.wait_for(l, t, [&] { return done_; });
    return response_;
  }
  bool done() {
    std::lock_guard l(mu_);
    return done_;
  }
  template <typename Pred>
  bool wait_sent(Pred p, std::chrono::milliseconds t = std::chrono::seconds(5)) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, t, [&] {
      for (auto& m : sent_)
        if (p(m)) return true;
      return false;
    });
  }
  std::vector<boost::json::object> sent() {
    std::lock_guard l(mu_);
    return sent_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<boost::json::object> sent_;
  bool done_ = false;
  std::optional<boost::json::object> response_;
};

}  // namespace testsupport
