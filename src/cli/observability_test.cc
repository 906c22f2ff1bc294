#include "cli/observability.h"

#include <chrono>
#include <string>

#include "gtest/gtest.h"

namespace castor::cli {
namespace {

spdlog::log_clock::time_point At(int64_t millis) {
  return spdlog::log_clock::time_point(std::chrono::milliseconds(millis));
}

TEST(JsonLogLine, HasTimeLevelMessageAndLoggerOnOneLine) {
  // 2026-12-06T02:44:19.123Z
  EXPECT_EQ(JsonLogLine(At(1796525059123), spdlog::level::info, "", "mounted castor on /mnt"),
            "{\"time\":\"2026-12-06T02:44:19.123Z\",\"level\":\"info\",\"message\":\"mounted "
            "castor on /mnt\",\"logger\":\"castor\"}\n");
  EXPECT_EQ(JsonLogLine(At(5), spdlog::level::warn, "other", "x"),
            "{\"time\":\"1970-01-01T00:00:00.005Z\",\"level\":\"warning\",\"message\":\"x\","
            "\"logger\":\"other\"}\n");
}

TEST(JsonLogLine, EscapesQuotesBackslashesAndControlCharacters) {
  std::string line =
      JsonLogLine(At(0), spdlog::level::err, "castor", "a \"q\" b\\c\nd\te\rf\x01g\x7f");
  EXPECT_NE(line.find(R"("message":"a \"q\" b\\c\nd\te\rf\u0001g\u007f")"), std::string::npos)
      << line;
  // One line: the only newline is the last byte.
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(JsonLogLine, KeepsUtf8AndReplacesInvalidBytes) {
  std::string line = JsonLogLine(At(0), spdlog::level::info, "castor",
                                 "caf\xc3\xa9 \xff\xfe \xe2\x82 \xed\xa0\x80 ok");
  // é stays; a lone 0xff, 0xfe, a truncated sequence and a surrogate become
  // U+FFFD, one per byte that cannot start a valid sequence.
  EXPECT_NE(
      line.find(
          "\"message\":\"caf\xc3\xa9 \\ufffd\\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd ok\""),
      std::string::npos)
      << line;
}

}  // namespace
}  // namespace castor::cli
