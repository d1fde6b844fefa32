// `jitgate demo`: the development authorization server and a jitgate MCP server with the demo
// tools under the demo policy, in one process, and a printed walkthrough.
#pragma once

namespace CLI {
class App;
}

namespace jitgate::cli {

void add_demo_command(CLI::App& app, int& status);

}  // namespace jitgate::cli
