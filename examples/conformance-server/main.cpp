// conformance-server: every primitive the MCP conformance scenarios expect, over
// Streamable HTTP (--port, at /mcp) or stdio (--stdio).
#include <CLI/CLI.hpp>
#include <iostream>

#include "conformance-server/primitives.hpp"
#include "jitgate/auth/config.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/audit.hpp"
#include "jitgate/observe/metrics.hpp"
#include "jitgate/policy/policy.hpp"
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
  std::string policy_file, shadow_file, audit_file;
  app.add_option("--policy", policy_file, "just-in-time authorization policy (YAML); reloaded when it changes or on SIGHUP");
  app.add_option("--shadow-policy", shadow_file, "a second policy evaluated and logged beside --policy, never enforced");
  app.add_option("--audit", audit_file, "audit log: one JSON line per decision to this file ('-' = stderr)");
  CLI11_PARSE(app, argc, argv);

  jitgate::mcp::ServerOptions options;
  std::shared_ptr<jitgate::policy::LocalPolicyEngine> engine;
  try {
    if (!policy_file.empty()) {
      engine = jitgate::policy::LocalPolicyEngine::from_files(policy_file, shadow_file);
      options.policy = engine;
    }
    if (!audit_file.empty())
      options.audit =
          audit_file == "-" ? jitgate::observe::make_audit_stream(stderr) : jitgate::observe::make_audit_file(audit_file);
  } catch (const std::exception& e) {
    std::cerr << "conformance-server: " << e.what() << '\n';
    return 2;
  }
  options.metrics = std::make_shared<jitgate::observe::Registry>();
  http.metrics = options.metrics;
  options.info = {"jitgate-conformance-server", "0.1.0", "jitgate conformance server"};
  options.page_size = page_size;
  jitgate::mcp::Server server(options);
  if (bench)
    conformance::register_bench_tools(server);
  else
    conformance::register_conformance_primitives(server);
  if (engine) {
    for (const auto& w : engine->current()->check(server.inventory()))
      std::cerr << "conformance-server: " << w.to_string() << '\n';
    auto report = [engine](const std::vector<jitgate::policy::Diagnostic>& d, bool swapped) {
      if (swapped) std::cerr << "jitgate: policy reloaded from " << engine->current()->source() << '\n';
      for (const auto& x : d) std::cerr << "jitgate: policy rejected, the previous one stays in force: " << x.to_string() << '\n';
    };
    http.on_tick = [engine, report] {
      std::vector<jitgate::policy::Diagnostic> d;
      bool swapped = engine->reload_if_changed(&d);
      if (swapped || !d.empty()) report(d, swapped);
    };
    http.on_hangup = [engine, report] {
      auto d = engine->reload();
      report(d, d.empty());
    };
  }

  if (stdio) {
    // Unsynchronized standard streams read stdin a buffer at a time, not a getc() per byte.
    std::ios::sync_with_stdio(false);
    return jitgate::transport::serve_stdio(server, std::cin, std::cout);
  }

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
