#include "yaml_json.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cstdint>
#include "common/strict_yaml.hpp"

namespace jitgate::cli {

namespace json = boost::json;

boost::json::value yaml_to_json(const YAML::Node& n) {
  if (!n || n.IsNull()) return nullptr;
  if (n.IsSequence()) {
    json::array a;
    for (const auto& e : n) a.push_back(yaml_to_json(e));
    return a;
  }
  if (n.IsMap()) {
    json::object o;
    for (const auto& kv : n) o[kv.first.Scalar()] = yaml_to_json(kv.second);
    return o;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() != "!") {  // unquoted
    bool b = false;
    if ((s == "true" || s == "false") && YAML::convert<bool>::decode(n, b)) return b;
    if (s == "null" || s == "~") return nullptr;
    std::int64_t i = 0;
    if (s.find_first_of(".eE") == std::string::npos && YAML::convert<std::int64_t>::decode(n, i)) return i;
    double d = 0;
    if (YAML::convert<double>::decode(n, d)) return d;
  }
  return json::string(s);
}

std::string where(const std::string& file, const YAML::Node& n) { return yaml::position(file, n); }

}  // namespace jitgate::cli
