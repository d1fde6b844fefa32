// The jitgate binary. Each command family adds itself to the parser from its own file; `serve`
// and `demo` join `policy` here the same way.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "demo_cli.hpp"
#include "devauth_cli.hpp"
#include "policy_cli.hpp"
#include "serve_cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"jitgate: just-in-time authorization for MCP servers"};
  app.name("jitgate");
  app.set_version_flag("--version", JITGATE_VERSION);
  app.require_subcommand(1);
  app.footer("Exit status: 0 success, 1 the policy or a test case failed, 2 bad usage or an unreadable file.");
  int status = 0;
  jitgate::cli::add_policy_commands(app, status);
  jitgate::cli::add_devauth_commands(app, status);
  jitgate::cli::add_demo_command(app, status);
  jitgate::cli::add_serve_command(app, status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version exit 0; usage errors 2
  } catch (const std::exception& e) {
    std::cerr << "jitgate: error: " << e.what() << "\n";
    return 2;
  }
  return status;
}
