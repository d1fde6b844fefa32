// The development authorization server's configuration (YAML): users with argon2id password
// hashes, scopes in plain words, pre-registered clients, resources and CIMD hosts.
#pragma once

#include <stdexcept>
#include <string>

#include "jitgate/devauth/server.hpp"

namespace jitgate::devauth {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads the `devauth` mapping of the document (or the whole document when it has none).
// Throws ConfigError("file:line:column: message"), unknown keys included.
Options load_options(const std::string& path);
Options parse_options(const std::string& yaml_text, const std::string& name = "<config>");

}  // namespace jitgate::devauth
