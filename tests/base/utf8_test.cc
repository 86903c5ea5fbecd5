// UTF-8 checks shared by the parsers and readers (base/utf8.h).
#include "base/utf8.h"

#include <gtest/gtest.h>

namespace hpsweep {
namespace {

TEST(Utf8Test, WellFormedAndMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\x80"));              // stray continuation
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // cut short
}

TEST(Utf8Test, RepairReplacesEachBadByteAndKeepsTheRest) {
  EXPECT_EQ(ToValidUtf8("ok"), "ok");
  EXPECT_EQ(ToValidUtf8("a\xff" "b"), "a\xef\xbf\xbd" "b");
  EXPECT_EQ(ToValidUtf8("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(ToValidUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\xc0\xaf\xed\xa0\x80\xf5")));
}

TEST(Utf8Test, EscapeMakesMessagesPrintableOnOneLine) {
  EXPECT_EQ(EscapeText("a\tb\nc"), "a\\tb\\nc");
  EXPECT_EQ(EscapeText("x\xffy"), "x\\xffy");
  EXPECT_EQ(EscapeText(std::string("\0\x1b", 2)), "\\x00\\x1b");
  EXPECT_EQ(EscapeText("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(EscapeText("\xc2\x85"), "\\xc2\\x85");  // C1 control NEL
}

}  // namespace
}  // namespace hpsweep
