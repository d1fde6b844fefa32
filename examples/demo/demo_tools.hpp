// The demo's tools, in three tiers: public search, your own notes once signed in, admin actions.
#pragma once

namespace jitgate::mcp {
class Server;
}

namespace demo {

void register_demo_tools(jitgate::mcp::Server& server);

}  // namespace demo
