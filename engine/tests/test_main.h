// A minimal test harness (the engine core takes no third-party dependency,
// tests included): TEST(name) defines a test of test_list.h, CHECK records failures.
#pragma once

#include <sstream>
#include <string>

#include "test_list.h"

namespace slimtest {

#define SLIMTEST_DECLARE(name) void name();
SLIM_ENGINE_TESTS(SLIMTEST_DECLARE)
#undef SLIMTEST_DECLARE

void record_failure(const char* file, int line, const std::string& what);

}  // namespace slimtest

#define TEST(name) void slimtest::name()

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
