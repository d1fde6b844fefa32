// conformance-server: every primitive the MCP conformance scenarios expect, over
// Streamable HTTP (--port, at /mcp) or stdio (--stdio).
#include <CLI/CLI.hpp>
#include <iostream>

#include "conformance-server/primitives.hpp"
#include "jitgate/auth/config.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/transport/http_server.hpp"
#include "jitgate/transport/stdio.hpp"

int main(int argc, char** argv) {
  CLI::App app{"MCP conformance server built on jitgate"};
  bool stdio = false;
  bool bench = false;
  jitgate::transport::HttpOptions http;
  std::size_t page_size = 100;
  app.add_flag("--stdio", stdio, "serve newline-delimited JSON-RPC on stdin/stdout");
  app.add_flag("--bench", bench, "serve the benchmark tool set (echo and 49 fillers) instead");
  app.add_option("--port", http.port, "TCP port (0 picks a free one)");
  app.add_option("--host", http.host, "address to bind");
  app.add_option("--threads", http.threads, "I/O threads (0 = one per core)");
  app.add_option("--page-size", page_size, "entries per list page");
  app.add_option("--allowed-origin", http.allowed_origins, "allowed Origin (repeatable)");
  app.add_option("--allowed-host", http.allowed_hosts, "allowed Host name (repeatable)");
  std::string auth_config;
  app.add_option("--auth-config", auth_config, "resource-server configuration (YAML); none = no authorization");
  CLI11_PARSE(app, argc, argv);

  jitgate::mcp::ServerOptions options;
  options.info = {"jitgate-conformance-server", "0.1.0", "jitgate conformance server"};
  options.page_size = page_size;
  jitgate::mcp::Server server(options);
  if (bench) conformance::register_bench_tools(server);
  else conformance::register_conformance_primitives(server);

  if (stdio) return jitgate::transport::serve_stdio(server, std::cin, std::cout);

  try {
    if (!auth_config.empty()) http.guard = jitgate::auth::make_guard(jitgate::auth::load_auth_config(auth_config));
  } catch (const std::exception& e) {
    std::cerr << "conformance-server: " << e.what() << '\n';
    return 2;
  }
  try {
    jitgate::transport::HttpServer http_server(server, http);
    std::uint16_t port = http_server.listen();
    std::cout << "http://" << (http.host == "0.0.0.0" ? "127.0.0.1" : http.host) << ":" << port << http.path << std::endl;
    http_server.run();
    server.close_all_sessions();
    server.join();
  } catch (const std::exception& e) {
    std::cerr << "conformance-server: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
