#include "tts/text.hpp"

#include <gtest/gtest.h>

namespace confidant::tts {
namespace {

TEST(PlainText, KeepsValidUtf8AndReplacesTheRest) {
    EXPECT_EQ(plain_text("héllo\tthere\n"), "héllo\tthere\n");
    EXPECT_EQ(plain_text("日本 🙂"), "日本 🙂");
    EXPECT_EQ(plain_text(std::string("a\0b", 3)), "a b");
    EXPECT_EQ(plain_text("a\xff"
                         "b"),
              "a b");
    EXPECT_EQ(plain_text("\xc0\xaf"), "  ");            // overlong '/'
    EXPECT_EQ(plain_text("\xe0\x80\xaf"), "   ");       // overlong, three bytes
    EXPECT_EQ(plain_text("\xed\xa0\x80"), "   ");       // a UTF-16 surrogate
    EXPECT_EQ(plain_text("\xf4\x90\x80\x80"), "    ");  // past U+10FFFF
    EXPECT_EQ(plain_text("x\xc2\x85y"), "x y");         // NEL, a C1 control
    EXPECT_EQ(plain_text("\x1b[1m\x7f"), " [1m ");      // ESC and DEL
    EXPECT_EQ(plain_text("\xe2\x82"), "  ");            // cut short
    EXPECT_EQ(plain_text("\xe2\x82x"), "  x");
    EXPECT_EQ(plain_text(""), "");
}

TEST(PlainText, CountsCodePoints) {
    EXPECT_EQ(count_code_points(""), 0u);
    EXPECT_EQ(count_code_points("Hello"), 5u);
    EXPECT_EQ(count_code_points("Привет"), 6u);
    EXPECT_EQ(count_code_points("🙂a"), 2u);
}

}  // namespace
}  // namespace confidant::tts
