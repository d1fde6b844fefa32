// Reading a YAML configuration strictly: unknown fields, wrong types and out-of-range numbers stop
// the load with "name:line:col: message" (thrown as Error, constructible from that string).
// Private to the layers that read configuration files (auth/, devauth/).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace jitgate::yaml {

template <typename Error>
class StrictReader {
 public:
  explicit StrictReader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& msg) const {
    auto m = at.Mark();
    throw Error(name_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " + msg);
  }
  void only(const YAML::Node& map, std::initializer_list<const char*> keys, const std::string& where) const {
    if (!map.IsMap()) fail(map, where + " must be a mapping");
    for (const auto& kv : map) {
      std::string k = kv.first.as<std::string>();
      bool known = false;
      for (const char* want : keys) known = known || k == want;
      if (!known) fail(kv.first, "unknown field '" + k + "' in " + where);
    }
  }
  std::string str(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail(n, what + " must be a string");
    return n.as<std::string>();
  }
  std::int64_t integer(const YAML::Node& n, const std::string& what, std::int64_t min, std::int64_t max) const {
    std::int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<std::int64_t>::decode(n, v)) fail(n, what + " must be an integer");
    if (v < min || v > max) fail(n, what + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    return v;
  }
  std::vector<std::string> strings(const YAML::Node& n, const std::string& what) const {
    if (!n.IsSequence()) fail(n, what + " must be a list of strings");
    std::vector<std::string> out;
    for (const auto& e : n) out.push_back(str(e, what + " entries"));
    return out;
  }

 private:
  std::string name_;
};

}  // namespace jitgate::yaml
