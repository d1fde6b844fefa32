#include "jitgate/observe/audit.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_to.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

using namespace jitgate::observe;
namespace json = boost::json;

namespace {

std::chrono::system_clock::time_point at_ms(std::int64_t ms_since_epoch) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms_since_epoch));
}

constexpr std::int64_t dec_1_2026 = 1796159093123;  // 2026-12-01T21:04:53.123Z

AuditRecord minimal() {
  AuditRecord r;
  r.time = at_ms(dec_1_2026);
  r.method = "tools/call";
  r.phase = "invocation";
  r.decision = "allow";
  r.rule = "public";
  return r;
}

std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class AuditFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("jitgate-audit-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

}  // namespace

TEST(AuditLine, EveryFieldInOrder) {
  std::vector<std::string> missing{"notes:write", "notes:admin"};
  AuditRecord r = minimal();
  r.subject = "alice";
  r.issuer = "https://as.example.com";
  r.client_id = "cli";
  r.session = "0123456789ab";
  r.primitive = "delete_note";
  r.decision = "deny";
  r.rule = "writers";
  r.missing_scopes = missing;
  r.token_hash = "feedbeef";
  r.reason = "needs write";
  r.listed = 7;
  r.hidden = 2;
  r.shadow_decision = "allow";
  r.shadow_rule = "new-writers";
  EXPECT_EQ(audit_line(r),
            R"({"time":"2026-12-01T21:04:53.123Z","subject":"alice","issuer":"https://as.example.com",)"
            R"("client_id":"cli","session":"0123456789ab","method":"tools/call","primitive":"delete_note",)"
            R"("phase":"invocation","decision":"deny","rule":"writers","missing_scopes":["notes:write","notes:admin"],)"
            R"("token_hash":"feedbeef","reason":"needs write","listed":7,"hidden":2,)"
            R"("shadow":{"decision":"allow","rule":"new-writers"}})");
}

TEST(AuditLine, OmitsUnsetFieldsAndWritesAnonymousAsNull) {
  EXPECT_EQ(audit_line(minimal()),
            R"({"time":"2026-12-01T21:04:53.123Z","subject":null,"method":"tools/call","phase":"invocation",)"
            R"("decision":"allow","rule":"public","missing_scopes":[]})");
  AuditRecord r = minimal();
  r.listed = 0;  // engaged zero is still written
  r.shadow_decision = "deny";
  EXPECT_EQ(audit_line(r), R"({"time":"2026-12-01T21:04:53.123Z","subject":null,"method":"tools/call","phase":"invocation",)"
                           R"("decision":"allow","rule":"public","missing_scopes":[],"listed":0,"shadow":{"decision":"deny"}})");
}

TEST(AuditLine, AlwaysPresentFieldsStayWhenEmpty) {
  AuditRecord r;
  r.time = at_ms(0);
  EXPECT_EQ(audit_line(r), R"({"time":"1970-01-01T00:00:00.000Z","subject":null,"method":"","phase":"",)"
                           R"("decision":"","rule":"","missing_scopes":[]})");
}

TEST(AuditLine, MissingScopesArrayEscapesEachScope) {
  std::vector<std::string> missing{"a", "b\"c", ""};
  AuditRecord r = minimal();
  r.missing_scopes = missing;
  auto v = json::parse(audit_line(r));
  const auto& arr = v.at("missing_scopes").as_array();
  ASSERT_EQ(arr.size(), 3u);
  EXPECT_EQ(arr[0].as_string(), "a");
  EXPECT_EQ(arr[1].as_string(), "b\"c");
  EXPECT_EQ(arr[2].as_string(), "");
}

TEST(AuditLine, TimeIsRfc3339UtcWithMilliseconds) {
  struct Case {
    std::int64_t ms;
    const char* want;
  };
  for (auto [ms, want] : std::vector<Case>{{0, "1970-01-01T00:00:00.000Z"},
                                           {dec_1_2026, "2026-12-01T21:04:53.123Z"},
                                           {951782400999, "2000-02-29T00:00:00.999Z"},
                                           {-1, "1969-12-31T23:59:59.999Z"}}) {
    AuditRecord r = minimal();
    r.time = at_ms(ms);
    EXPECT_EQ(json::parse(audit_line(r)).at("time").as_string(), want) << ms;
  }
  AuditRecord r = minimal();  // sub-millisecond precision is truncated, not rounded
  r.time = at_ms(dec_1_2026) + std::chrono::microseconds(999);
  EXPECT_EQ(json::parse(audit_line(r)).at("time").as_string(), "2026-12-01T21:04:53.123Z");
}

TEST(AuditLine, EscapesStringsPerRfc8259) {
  struct Case {
    std::string subject;
    std::string literal;  // as written in the line
    std::string parsed;   // what a JSON parser reads back
  };
  const std::vector<Case> cases{
      {R"(say "hi")", R"("say \"hi\"")", R"(say "hi")"},
      {"line\nbreak\r\t", R"("line\nbreak\r\t")", "line\nbreak\r\t"},
      {R"(back\slash)", R"("back\\slash")", R"(back\slash)"},
      {std::string("nul\0bell\x07", 9), R"("nul\u0000bell\u0007")", std::string("nul\0bell\x07", 9)},
      {"\x1f\x7f\b\f", R"("\u001f\u007f\b\f")", "\x1f\x7f\b\f"},
      {"Zoë 日本 🦀", "\"Zoë 日本 🦀\"", "Zoë 日本 🦀"},
      {"bad\xff", R"("bad\ufffd")", "bad\xef\xbf\xbd"},
      {"\xc0\xaf", R"("\ufffd\ufffd")", "\xef\xbf\xbd\xef\xbf\xbd"},                        // overlong '/'
      {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // surrogate
      {"cut\xe6\x97", R"("cut\ufffd\ufffd")", "cut\xef\xbf\xbd\xef\xbf\xbd"},               // truncated sequence
      {"</script>", R"("</script>")", "</script>"},
  };
  for (const auto& c : cases) {
    AuditRecord r = minimal();
    r.subject = c.subject;
    r.reason = c.subject;
    std::string line = audit_line(r);
    EXPECT_NE(line.find("\"subject\":" + c.literal + ","), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    json::value v;
    ASSERT_NO_THROW(v = json::parse(line)) << line;
    EXPECT_EQ(v.at("subject").as_string(), c.parsed) << line;
    EXPECT_EQ(v.at("reason").as_string(), c.parsed) << line;
  }
}

TEST(AuditSessionHash, FirstTwelveHexDigitsOfSha256) {
  EXPECT_EQ(session_hash("abc"), "ba7816bf8f01");  // FIPS 180-2 test vector
  EXPECT_EQ(session_hash(""), "e3b0c44298fc");
  EXPECT_NE(session_hash("a"), session_hash("b"));
}

TEST_F(AuditFile, FourThreadsWriteEveryLineIntact) {
  constexpr int threads = 4, per_thread = 2500;
  auto path = dir_ / "audit.log";
  {
    auto sink = make_audit_file(path.string());
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&sink, t] {
        std::string subject = "thread-" + std::to_string(t) + " \"quoted\"\n";
        for (int i = 0; i < per_thread; ++i) {
          std::string reason = std::to_string(i);
          AuditRecord r = minimal();
          r.subject = subject;
          r.reason = reason;
          sink->record(r);
        }
      });
    for (auto& th : pool) th.join();
    EXPECT_EQ(sink->dropped(), 0u);
  }
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), std::size_t{threads * per_thread});
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& line : lines) {
    json::value v;
    ASSERT_NO_THROW(v = json::parse(line)) << line;
    seen.emplace(json::value_to<std::string>(v.at("subject")), json::value_to<std::string>(v.at("reason")));
  }
  EXPECT_EQ(seen.size(), lines.size());  // no line lost, duplicated or torn
}

TEST_F(AuditFile, DestructorFlushesEverythingQueued) {
  auto path = dir_ / "audit.log";
  constexpr int n = 20000;
  {
    auto sink = make_audit_file(path.string());
    AuditRecord r = minimal();
    for (int i = 0; i < n; ++i) sink->record(r);
  }  // destroyed at once: the writer has most of the queue still to write
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), std::size_t{n});
  EXPECT_EQ(lines.back(), audit_line(minimal()));
}

TEST_F(AuditFile, AppendsToAnExistingFile) {
  auto path = dir_ / "audit.log";
  std::ofstream(path) << "earlier line\n";
  make_audit_file(path.string())->record(minimal());
  make_audit_file(path.string())->record(minimal());
  EXPECT_EQ(read_lines(path), (std::vector<std::string>{"earlier line", audit_line(minimal()), audit_line(minimal())}));
}

TEST_F(AuditFile, OpenFailureNamesThePath) {
  auto path = (dir_ / "no-such-dir" / "audit.log").string();
  try {
    make_audit_file(path);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
}

TEST(AuditStream, WritesToACallerOwnedStream) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  make_audit_stream(f)->record(minimal());
  std::rewind(f);  // still open: the sink does not own it
  char buf[512] = {};
  ASSERT_NE(std::fgets(buf, sizeof buf, f), nullptr);
  EXPECT_EQ(std::string(buf), audit_line(minimal()) + "\n");
  std::fclose(f);
  EXPECT_THROW(make_audit_stream(nullptr), std::invalid_argument);
}

// A pipe nobody reads stalls the writer in fwrite; the bounded queue then fills and the rest of
// the lines are dropped and counted, without ever blocking record().
TEST(AuditStream, FullQueueDropsAndCounts) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_GT(::fcntl(fds[1], F_SETPIPE_SZ, 4096), 0);
  std::FILE* w = ::fdopen(fds[1], "w");
  ASSERT_NE(w, nullptr);
  constexpr std::size_t capacity = 8, n = 500;
  const std::string reason(2000, 'x');  // two lines fill the pipe
  std::uint64_t dropped = 0;
  std::string received;
  {
    auto sink = make_audit_stream(w, capacity);
    AuditRecord r = minimal();
    r.reason = reason;
    auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) sink->record(r);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // never blocked
    dropped = sink->dropped();
    // The writer holds at most one batch (<= capacity) and the pipe a few lines; the rest is gone.
    EXPECT_GE(dropped, n - 2 * capacity - 16);
    std::thread reader([&] {
      char buf[65536];
      for (ssize_t got; (got = ::read(fds[0], buf, sizeof buf)) > 0;) received.append(buf, std::size_t(got));
    });
    sink.reset();  // drains what was queued into the pipe
    std::fclose(w);
    reader.join();
  }
  ::close(fds[0]);
  std::size_t lines = std::count(received.begin(), received.end(), '\n');
  EXPECT_EQ(lines + dropped, n);  // every line either written whole or counted
  EXPECT_GT(lines, 0u);
}
