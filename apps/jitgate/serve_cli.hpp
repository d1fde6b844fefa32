// `jitgate serve --config gateway.yaml`: the gateway, just-in-time authorization in front of
// existing MCP servers (stdio commands and Streamable HTTP URLs).
#pragma once

namespace CLI {
class App;
}

namespace jitgate::cli {

void add_serve_command(CLI::App& app, int& status);

}  // namespace jitgate::cli
