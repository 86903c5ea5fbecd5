// UTF-8 checks shared by the parsers and readers (base/utf8.h).
#include "base/utf8.h"

#include <gtest/gtest.h>

namespace hpsweep::utf8_test {
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

TEST(Utf8Test, CodePointsAndInvisibleFormatCharacters) {
  const std::string text = "a\u00e9\u202E\U0001F600";
  EXPECT_EQ(CodePointAt(text, 0, Utf8Length(text, 0)), U'a');
  EXPECT_EQ(CodePointAt(text, 1, Utf8Length(text, 1)), U'\u00e9');
  EXPECT_EQ(CodePointAt(text, 3, Utf8Length(text, 3)), U'\u202E');
  EXPECT_EQ(CodePointAt(text, 6, Utf8Length(text, 6)), U'\U0001F600');
  for (char32_t cp : {0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A,
                      0x202E, 0x2060, 0x2066, 0x2069, 0xFEFF}) {
    EXPECT_TRUE(IsInvisibleFormat(cp)) << std::hex << static_cast<unsigned>(cp);
  }
  for (char32_t cp : {0x41, 0xE9, 0x2027, 0x202F, 0x2070, 0x1F600}) {
    EXPECT_FALSE(IsInvisibleFormat(cp)) << std::hex << static_cast<unsigned>(cp);
  }
}

}  // namespace
}  // namespace hpsweep::utf8_test
