#include "serve_cli.hpp"

#include <CLI/CLI.hpp>

#include <boost/json/serialize.hpp>
#include <csignal>
#include <iostream>
#include <memory>
#include <mutex>

#include "jitgate/auth/config.hpp"
#include "jitgate/gateway/config.hpp"
#include "jitgate/gateway/connect.hpp"
#include "jitgate/gateway/gateway.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/audit.hpp"
#include "jitgate/observe/metrics.hpp"
#include "jitgate/policy/policy.hpp"
#include "jitgate/transport/http_server.hpp"

namespace jitgate::cli {

namespace {

struct ServeArgs {
  std::string config;
  bool check = false;
};

int serve(const ServeArgs& args) {
  // A write to a stdio upstream that has died fails with EPIPE instead of killing the process, so
  // calling threads may write to the children's stdin themselves (gateway::StdioUpstream).
  std::signal(SIGPIPE, SIG_IGN);
  gateway::GatewayConfig cfg;
  try {
    cfg = gateway::load_gateway_config(args.config);
  } catch (const gateway::ConfigError& e) {
    for (const auto& p : e.problems()) std::cerr << p << '\n';
    return 2;
  }
  mcp::ServerOptions so;
  so.info = {cfg.server_name, JITGATE_VERSION, ""};
  so.page_size = cfg.page_size;
  so.metrics = std::make_shared<observe::Registry>();
  std::shared_ptr<policy::LocalPolicyEngine> engine;
  transport::HttpOptions http;
  try {
    if (!cfg.policy.empty()) {
      engine = policy::LocalPolicyEngine::from_files(cfg.policy, cfg.shadow_policy);
      so.policy = engine;
    }
    if (!cfg.audit.empty())
      so.audit = cfg.audit == "-" ? observe::make_audit_stream(stderr) : observe::make_audit_file(cfg.audit);
    if (!cfg.auth_config.empty()) http.guard = auth::make_guard(auth::load_auth_config(cfg.auth_config));
  } catch (const std::exception& e) {
    std::cerr << "jitgate: " << e.what() << '\n';
    return 2;
  }
  if (args.check) {
    std::cout << args.config << ": ok (" << cfg.upstreams.size() << " upstreams)\n";
    return 0;
  }

  mcp::Server server(so);
  auto log_mu = std::make_shared<std::mutex>();
  gateway::GatewayOptions go;
  go.startup_timeout = cfg.startup_timeout;
  go.log = [log_mu](std::string_view upstream, gateway::LogLevel level, std::string_view text) {
    std::lock_guard lock(*log_mu);
    std::cerr << "jitgate: upstream " << upstream
              << (level == gateway::LogLevel::error     ? " error: "
                  : level == gateway::LogLevel::warning ? " warning: "
                                                        : ": ")
              << text << '\n';
  };
  gateway::Gateway gw(server, go);
  for (const auto& u : cfg.upstreams) gw.add(gateway::make_spec(u));
  if (!gw.start()) std::cerr << "jitgate: not every upstream is ready yet; /readyz says which (they keep trying)\n";
  if (engine) {
    for (const auto& w : engine->current()->check(server.inventory())) std::cerr << "jitgate: " << w.to_string() << '\n';
    auto report = [engine](const std::vector<policy::Diagnostic>& d, bool swapped) {
      if (swapped) std::cerr << "jitgate: policy reloaded from " << engine->current()->source() << '\n';
      for (const auto& x : d) std::cerr << "jitgate: policy rejected, the previous one stays in force: " << x.to_string() << '\n';
    };
    http.on_tick = [engine, report] {
      std::vector<policy::Diagnostic> d;
      bool swapped = engine->reload_if_changed(&d);
      if (swapped || !d.empty()) report(d, swapped);
    };
    http.on_hangup = [engine, report] {
      auto d = engine->reload();
      report(d, d.empty());
    };
  }
  http.host = cfg.host;
  http.port = cfg.port;
  http.path = cfg.path;
  http.allowed_origins = cfg.allowed_origins;
  http.metrics = so.metrics;
  http.health = [&gw] {
    auto h = gw.health();
    return std::make_pair(h.at("ready").as_bool(), boost::json::serialize(h));
  };
  try {
    transport::HttpServer http_server(server, http);
    std::uint16_t port = http_server.listen();
    std::cout << "jitgate gateway on http://" << (cfg.host == "0.0.0.0" ? "127.0.0.1" : cfg.host) << ":" << port << cfg.path
              << " (" << cfg.upstreams.size() << " upstreams)" << std::endl;
    http_server.run();
    server.close_all_sessions();
    gw.stop();
    server.join();
  } catch (const std::exception& e) {
    std::cerr << "jitgate: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& status) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "run the gateway: just-in-time authorization in front of MCP servers");
  cmd->add_option("--config", args->config, "gateway configuration (YAML)")->required();
  cmd->add_flag("--check", args->check, "check the configuration (and the files it names) and exit");
  cmd->callback([args, &status] { status = serve(*args); });
}

}  // namespace jitgate::cli
