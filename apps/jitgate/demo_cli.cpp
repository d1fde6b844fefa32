#include "demo_cli.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>

#include "demo/demo_tools.hpp"
#include "jitgate/auth/config.hpp"
#include "jitgate/devauth/config.hpp"
#include "jitgate/devauth/server.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/audit.hpp"
#include "jitgate/observe/metrics.hpp"
#include "jitgate/policy/policy.hpp"
#include "jitgate/transport/http_server.hpp"

namespace jitgate::cli {

namespace fs = std::filesystem;

namespace {

struct DemoArgs {
  std::string config;
  int port = -1, auth_port = -1;
  bool audit = false;
};

// A free loopback port, for when the MCP port must be known before its server binds (the
// authorization server binds the resource into its tokens).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string default_config() {
  for (fs::path p : {fs::path("examples/demo/demo.yaml"), fs::path(JITGATE_SOURCE_DIR) / "examples/demo/demo.yaml"})
    if (fs::exists(p)) return p.string();
  return "examples/demo/demo.yaml";
}

int run_demo(const DemoArgs& args) {
  std::string config = args.config.empty() ? default_config() : args.config;
  YAML::Node doc = YAML::LoadFile(config);
  std::uint16_t port = 8377;
  std::string policy_file = "policy.yaml";
  if (const auto& m = doc["mcp"]) {
    if (m["port"]) port = m["port"].as<std::uint16_t>();
    if (m["policy"]) policy_file = m["policy"].as<std::string>();
  }
  if (args.port >= 0) port = static_cast<std::uint16_t>(args.port);
  if (port == 0) port = free_port();
  fs::path policy_path =
      fs::path(policy_file).is_absolute() ? fs::path(policy_file) : fs::path(config).parent_path() / policy_file;

  std::string resource = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  devauth::Options ao = devauth::load_options(config);
  if (args.auth_port >= 0) ao.port = static_cast<std::uint16_t>(args.auth_port);
  ao.resources = {resource};
  ao.default_resource = resource;
  std::vector<devauth::User> users = ao.users;
  std::vector<std::string> first_scopes;
  devauth::DevAuthServer as(std::move(ao));
  as.listen();
  std::string issuer = as.issuer();

  auto engine = policy::LocalPolicyEngine::from_files(policy_path.string());
  mcp::ServerOptions so;
  so.policy = engine;
  so.metrics = std::make_shared<observe::Registry>();
  if (args.audit) so.audit = observe::make_audit_stream(stderr);
  so.info = {"jitgate-demo", JITGATE_VERSION, "jitgate demo: just-in-time authorization"};
  so.instructions =
      "Demo tools in three tiers. search_docs is public; list_my_notes needs sign-in; add_note needs notes:write; "
      "admin_* need admin:write and the admin role.";
  mcp::Server server(so);
  demo::register_demo_tools(server);
  for (const auto& w : engine->current()->check(server.inventory())) std::cerr << "jitgate demo: " << w.to_string() << '\n';

  auth::AuthConfig ac;
  ac.metadata.resource = resource;
  ac.metadata.authorization_servers = {issuer};
  ac.metadata.scopes_supported = {"notes:read"};
  ac.metadata.resource_name = "jitgate demo";
  auth::IssuerConfig ic;
  ic.issuer = issuer;
  ic.algorithms = {"ES256"};
  ac.issuers = {ic};
  transport::HttpOptions h;
  h.port = port;
  h.metrics = so.metrics;
  h.guard = auth::make_guard(ac);
  // Pages at the MCP Inspector's origin may call the server from the browser (the 0.x Inspector's
  // direct connection); the 2.x Inspector goes through its own backend and needs no CORS.
  h.cors_origins = {"http://localhost:6274", "http://127.0.0.1:6274"};
  transport::HttpServer http(server, h);
  http.listen();
  as.start();

  std::cout << "jitgate demo: just-in-time authorization for MCP, in one process\n\n"
            << "  MCP server         " << resource << "\n"
            << "                     tools in three tiers under " << policy_path.string() << "\n"
            << "  Authorization      " << issuer << "   (DEVELOPMENT server: demo users, in-memory keys)\n"
            << "  Demo users         alice / alice-demo (member)    bob / bob-demo (member, admin)\n\n"
            << "Try it with the MCP Inspector (2.x; it needs Node.js 22.19 or later):\n"
            << "  npx @modelcontextprotocol/inspector      then open the URL it prints (with its token)\n"
            << "  Add Servers > + Add manually: Server ID jitgate-demo, Transport streamable-http,\n"
            << "  URL " << resource << ", Add; switch it on (Connected), then open Tools.\n"
            << "  1. search_docs works anonymously; list_my_notes and add_note are listed but locked.\n"
            << "  2. Execute list_my_notes: 401. The Inspector registers itself and sends the browser to the sign-in\n"
            << "     page: sign in as alice / alice-demo, Allow notes:read; back in the Inspector, Execute again.\n"
            << "  3. Execute add_note: 403 insufficient_scope naming notes:write. Authorize in the Inspector's dialog:\n"
            << "     the consent page offers only notes:write (notes:read is kept). Allow, Execute again: it works.\n"
            << "  4. The admin tools need admin:write and the admin role: bob has it, alice does not. For bob,\n"
            << "     admin_purge_notes {\"user\":\"bob\"} is refused by an argument condition, {\"user\":\"alice\"} works.\n\n"
            << "Or with a script (curl): a machine token for demo-robot (notes:read)\n"
            << "  curl -s " << issuer << "/token -d grant_type=client_credentials -d client_id=demo-robot \\\n"
            << "       -d client_secret=demo-robot-secret -d resource=" << resource << "\n"
            << "  then send it as 'Authorization: Bearer <access_token>' to " << resource << "\n\n"
            << "Ctrl-C stops the demo." << std::endl;
  http.run();
  as.stop();
  server.close_all_sessions();
  server.join();
  return 0;
}

}  // namespace

void add_demo_command(CLI::App& app, int& status) {
  auto args = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand(
      "demo", "run the one-command demo: a development authorization server and an MCP server with demo tools");
  cmd->add_option("--config", args->config, "demo settings (default examples/demo/demo.yaml)");
  cmd->add_option("--port", args->port, "MCP server port (default from the settings, 8377; 0 picks a free one)");
  cmd->add_option("--auth-port", args->auth_port,
                  "authorization server port (default from the settings, 8378; 0 picks a free one)");
  cmd->add_flag("--audit", args->audit, "write the audit log (one JSON line per decision) to stderr");
  cmd->callback([args, &status] { status = run_demo(*args); });
}

}  // namespace jitgate::cli
