// A minimal test harness (the engine core takes no third-party dependency,
// tests included): TEST(name) registers a function, CHECK records failures.
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace slimtest {

struct Case {
  const char* name;
  std::function<void()> fn;
};
std::vector<Case>& cases();
void record_failure(const char* file, int line, const std::string& what);

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { cases().push_back({name, std::move(fn)}); }
};

}  // namespace slimtest

#define TEST(name)                                                      \
  static void test_##name();                                            \
  static const slimtest::Registrar registrar_##name(#name, &test_##name); \
  static void test_##name()

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) slimtest::record_failure(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

// Runs `stmt`, requiring a slim::Error whose message contains `needle`.
#define CHECK_THROWS(stmt, needle)                                                         \
  do {                                                                                     \
    bool thrown_ = false;                                                                  \
    try {                                                                                  \
      stmt;                                                                                \
    } catch (const slim::Error& e_) {                                                      \
      thrown_ = true;                                                                      \
      if (std::string(e_.what()).find(needle) == std::string::npos)                        \
        slimtest::record_failure(__FILE__, __LINE__, std::string("message '") + e_.what() + \
                                                         "' lacks '" + (needle) + "'");     \
    }                                                                                      \
    if (!thrown_) slimtest::record_failure(__FILE__, __LINE__, "no slim::Error from " #stmt); \
  } while (0)
