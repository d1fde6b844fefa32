// YAML values as JSON, typed the way the policy loader types them: unquoted true/false, null,
// integers and numbers keep their type; quoted scalars stay strings.
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace YAML {
class Node;
}

namespace jitgate::cli {

boost::json::value yaml_to_json(const YAML::Node& n);
// "file:line:column" of a node (the file name alone when the node has no mark).
std::string where(const std::string& file, const YAML::Node& n);

}  // namespace jitgate::cli
