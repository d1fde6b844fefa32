// `jitgate devauth [--config FILE]` and `jitgate devauth hash-password`: the development
// authorization server on its own (the demo runs it in-process beside an MCP server).
#pragma once

namespace CLI {
class App;
}

namespace jitgate::cli {

void add_devauth_commands(CLI::App& app, int& status);

}  // namespace jitgate::cli
