// Every name a paged list shows, following nextCursor: `call(method, params)` returns the whole
// JSON-RPC response of one page.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace testsupport {

template <typename Call>
std::vector<std::string> listed_names(Call&& call, std::string_view method = "tools/list", std::string_view key = "tools") {
  std::vector<std::string> names;
  boost::json::value cursor = nullptr;
  do {
    boost::json::object params;
    if (!cursor.is_null()) params["cursor"] = cursor;
    boost::json::object r = call(std::string(method), boost::json::value(std::move(params)));
    const auto& result = r.at("result").as_object();
    for (const auto& t : result.at(key).as_array()) names.emplace_back(t.at("name").as_string());
    const auto* next = result.if_contains("nextCursor");
    cursor = next ? *next : boost::json::value(nullptr);
  } while (!cursor.is_null());
  return names;
}

}  // namespace testsupport
