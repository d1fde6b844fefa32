// A SessionLink that records what the server delivers outside any request (list_changed,
// resources/updated, log messages), for tests of the core without a transport.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "jitgate/mcp/session.hpp"

namespace testsupport {

class RecordingLink : public jitgate::mcp::SessionLink {
 public:
  void deliver(boost::json::object m) override {
    std::lock_guard l(mu);
    got.push_back(std::move(m));
  }
  // The methods delivered so far, in order.
  std::vector<std::string> methods() {
    std::lock_guard l(mu);
    std::vector<std::string> out;
    for (auto& m : got) out.emplace_back(m.at("method").as_string());
    return out;
  }
  bool wait_method(std::string_view method, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(std::chrono::milliseconds(10)))
      for (const auto& m : methods())
        if (m == method) return true;
    return false;
  }
  std::size_t count() {
    std::lock_guard l(mu);
    return got.size();
  }
  void clear() {
    std::lock_guard l(mu);
    got.clear();
  }

  std::mutex mu;
  std::vector<boost::json::object> got;
};

}  // namespace testsupport
