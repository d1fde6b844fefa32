// Reading a YAML configuration strictly: unknown fields, wrong types and out-of-range numbers are
// problems reported as "name:line:col: message". A reader either stops at the first one (thrown as
// Error, constructible from that string) or collects them all and goes on with defaults, so one
// run of a checker lists every mistake in a file.
// Private to the layers that read configuration files (auth/, devauth/, gateway/).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace jitgate::yaml {

// "name:line:col" of a position in a file, or the name alone for a node with no position.
inline std::string position(const std::string& name, const YAML::Mark& m) {
  if (m.is_null() || m.line < 0) return name;
  return name + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}
inline std::string position(const std::string& name, const YAML::Node& n) { return position(name, n.Mark()); }
// The message of a YAML syntax error, with its position.
inline std::string syntax_error(const std::string& name, const YAML::Exception& e) {
  return position(name, e.mark) + ": " + e.msg;
}

template <typename Error>
class StrictReader {
 public:
  enum class Mode { stop, collect };
  explicit StrictReader(std::string name, Mode mode = Mode::stop) : name_(std::move(name)), mode_(mode) {}

  const std::string& name() const { return name_; }
  // "name:line:col", or the name alone for a node with no position (a missing one).
  std::string where(const YAML::Node& at) const { return position(name_, at); }
  [[noreturn]] void fail(const YAML::Node& at, const std::string& msg) const { throw Error(where(at) + ": " + msg); }
  // A problem: thrown (Mode::stop), or recorded while the read goes on (Mode::collect).
  void problem(const YAML::Node& at, const std::string& msg) {
    if (mode_ == Mode::stop) fail(at, msg);
    problems_.push_back(where(at) + ": " + msg);
  }
  const std::vector<std::string>& problems() const { return problems_; }
  std::vector<std::string>& problems() { return problems_; }

  // Unknown keys are problems: a misspelt option must not be silently ignored in a security product.
  // False when `map` is not a mapping at all.
  bool only(const YAML::Node& map, std::initializer_list<std::string_view> keys, const std::string& where) {
    if (!map.IsMap()) {
      problem(map, where + " must be a mapping");
      return false;
    }
    for (const auto& kv : map) {
      std::string k = kv.first.as<std::string>();
      bool known = false;
      for (auto want : keys) known = known || k == want;
      if (!known) problem(kv.first, "unknown field '" + k + "' in " + where);
    }
    return true;
  }
  std::string str(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      problem(n, what + " must be a string");
      return {};
    }
    return n.as<std::string>();
  }
  std::int64_t integer(const YAML::Node& n, const std::string& what, std::int64_t min, std::int64_t max) {
    std::int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<std::int64_t>::decode(n, v)) {
      problem(n, what + " must be an integer");
      return min;
    }
    if (v < min || v > max) {
      problem(n, what + " must be between " + std::to_string(min) + " and " + std::to_string(max));
      return min;
    }
    return v;
  }
  bool boolean(const YAML::Node& n, const std::string& what) {
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      problem(n, what + " must be true or false");
      return false;
    }
    return v;
  }
  std::vector<std::string> strings(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (!n.IsSequence()) {
      problem(n, what + " must be a list of strings");
      return out;
    }
    for (const auto& e : n) out.push_back(str(e, what + " entries"));
    return out;
  }

 private:
  std::string name_;
  Mode mode_;
  std::vector<std::string> problems_;
};

}  // namespace jitgate::yaml
