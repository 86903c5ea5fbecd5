// UTF-8 text checks shared by every reader of hostile text: sweep files, RPC fields, what the
// database holds. Protobuf refuses to send a string that is not UTF-8 and nlohmann::json throws on
// one, so text is checked where it enters and repaired where old data is read.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_BASE_UTF8_H_
#define HPSWEEP_BASE_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace hpsweep {

// Length of the well-formed UTF-8 sequence at text[i], or 0 when the bytes there are not one (a
// stray continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut short).
// REQUIRES: i < text.size().
size_t Utf8Length(std::string_view text, size_t i);

// True for C0 controls other than tab and newline, DEL, and C1 controls (U+0080..U+009F), for the
// n-byte sequence at text[i].
bool IsControlAt(std::string_view text, size_t i, size_t n);

// The code point of the well-formed n-byte sequence at text[i] (n from Utf8Length).
char32_t CodePointAt(std::string_view text, size_t i, size_t n);

// True for the format characters that change how text around them shows without showing
// themselves: zero-width ones (U+200B..U+200D, U+2060, U+FEFF), direction marks, embeddings,
// overrides and isolates (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069), and the
// line and paragraph separators U+2028, U+2029. A name holding one can pass for another name.
bool IsInvisibleFormat(char32_t cp);

// "\xNN" for a byte.
std::string Hex(unsigned char c);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view text);

// `text` with every byte that is not printable UTF-8 written as \xNN (tab, newline and carriage
// return as \t, \n, \r), so that a message quoting a file stays valid UTF-8 on one line.
std::string EscapeText(std::string_view text);

// `text` with each byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string ToValidUtf8(std::string_view text);

}  // namespace hpsweep

#endif  // HPSWEEP_BASE_UTF8_H_
