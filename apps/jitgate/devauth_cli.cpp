#include "devauth_cli.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "jitgate/devauth/config.hpp"
#include "jitgate/devauth/password.hpp"
#include "jitgate/devauth/server.hpp"

namespace jitgate::cli {

namespace {
struct DevauthArgs {
  std::string config, host, issuer;
  int port = -1;
};
}  // namespace

void add_devauth_commands(CLI::App& app, int& status) {
  auto args = std::make_shared<DevauthArgs>();
  auto* cmd = app.add_subcommand("devauth", "run the DEVELOPMENT authorization server alone (demo and tests only)");
  cmd->add_option("--config", args->config, "users, scopes and clients (YAML; the `devauth` mapping of the file)");
  cmd->add_option("--port", args->port, "TCP port (0 picks a free one; default from the config, else 0)");
  cmd->add_option("--host", args->host, "address to bind (default 127.0.0.1)");
  cmd->add_option("--issuer", args->issuer, "issuer URL (default http://<host>:<port>)");
  auto* hash = cmd->add_subcommand("hash-password", "print the argon2id hash of a password read from stdin (one line)");
  cmd->require_subcommand(0, 1);
  cmd->callback([args, hash, &status] {
    if (hash->parsed()) return;
    devauth::Options o = args->config.empty() ? devauth::Options{} : devauth::load_options(args->config);
    if (args->port >= 0) o.port = static_cast<std::uint16_t>(args->port);
    if (!args->host.empty()) o.host = args->host;
    if (!args->issuer.empty()) o.issuer = args->issuer;
    devauth::DevAuthServer server(std::move(o));
    server.listen();
    std::cout << server.issuer() << std::endl;  // the first line of stdout: for scripts
    server.run(true);
    status = 0;
  });

  hash->callback([&status] {
    if (isatty(STDIN_FILENO)) std::cerr << "password: " << std::flush;
    std::string pw;
    std::getline(std::cin, pw);
    if (pw.empty()) {
      std::cerr << "jitgate: error: empty password\n";
      status = 2;
      return;
    }
    std::cout << devauth::hash_password(pw) << '\n';
    status = 0;
  });
}

}  // namespace jitgate::cli
