// `jitgate policy check | explain | test`: the operator's tools for policy files.
#pragma once

namespace CLI {
class App;
}

namespace jitgate::cli {

// Adds the `policy` command and its subcommands to `app`; the one that runs leaves its exit status
// in `status` (0 fine, 1 the policy or a test case failed, 2 bad input).
void add_policy_commands(CLI::App& app, int& status);

}  // namespace jitgate::cli
