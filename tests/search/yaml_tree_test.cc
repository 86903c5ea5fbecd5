// Tests for search/yaml_tree.h: the tree keeps kinds, lines, text and quoting; every limit
// holds (size, depth, node count, scalar length); aliases, anchors, tags, duplicate keys, keys
// that are not single values, more than one document, bytes that are not UTF-8 and control
// characters are refused naming the line; and inputs that made yaml-cpp spin forever end in an
// error at once (ctest runs this file with a 60 s TIMEOUT: a hang is a failure).
#include "search/yaml_tree.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hpsweep::yaml_tree_test {
namespace {

constexpr char kFile[] = "t.yaml";

YamlDocument MustParse(const std::string& text) {
  StatusOr<YamlDocument> doc = ParseYaml(text, kFile);
  EXPECT_TRUE(doc.ok()) << doc.status().ToString() << "\n" << text;
  return doc.ok() ? std::move(doc).value() : YamlDocument();
}

// Expects InvalidArgument starting "t.yaml:LINE:" (or "t.yaml: " for line 0) with every part.
void ExpectError(const std::string& text, int line, const std::vector<std::string>& parts,
                 const YamlLimits& limits = YamlLimits()) {
  SCOPED_TRACE(text.size() < 200 ? text : text.substr(0, 200) + "...");
  StatusOr<YamlDocument> doc = ParseYaml(text, kFile, limits);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
  const std::string& m = doc.status().message();
  const std::string prefix =
      line > 0 ? std::string(kFile) + ":" + std::to_string(line) + ":" : std::string(kFile) + ": ";
  EXPECT_EQ(m.rfind(prefix, 0), 0u) << "want prefix '" << prefix << "', got: " << m;
  for (const std::string& part : parts) {
    EXPECT_NE(m.find(part), std::string::npos) << "want '" << part << "' in: " << m;
  }
  EXPECT_TRUE(IsValidUtf8(m)) << m;
  for (char c : m) EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << m;
}

TEST(YamlTreeTest, KindsLinesTextAndQuoting) {
  const YamlDocument doc = MustParse(
      "name: x\n"
      "quoted: \"5\"\n"
      "plain: 5\n"
      "list:\n"
      "  - a\n"
      "  - [1, 'two']\n"
      "map: {k: ~, q: 'null', e: }\n"
      "multi: |\n"
      "  one\n"
      "  two\n");
  const YamlNode* root = doc.root();
  ASSERT_NE(root, nullptr);
  ASSERT_TRUE(root->IsMapping());
  EXPECT_EQ(root->line, 1);
  ASSERT_EQ(root->entries.size(), 6u);
  const std::vector<std::string> keys = {"name", "quoted", "plain", "list", "map", "multi"};
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(root->entries[i].first->text, keys[i]);
    EXPECT_EQ(root->entries[i].first->line, static_cast<int>(i) + (i >= 4 ? 3 : 1)) << i;
  }
  const YamlNode* quoted = root->entries[1].second;
  const YamlNode* plain = root->entries[2].second;
  EXPECT_EQ(quoted->text, "5");
  EXPECT_FALSE(quoted->plain);
  EXPECT_EQ(plain->text, "5");
  EXPECT_TRUE(plain->plain);
  EXPECT_TRUE(plain->IsScalar());
  EXPECT_STREQ(YamlTypeName(*plain), "a single value");

  const YamlNode* list = root->entries[3].second;
  ASSERT_TRUE(list->IsSequence());
  EXPECT_STREQ(YamlTypeName(*list), "a list");
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[0]->text, "a");
  EXPECT_EQ(list->items[0]->line, 5);
  EXPECT_EQ(list->items[1]->line, 6);
  ASSERT_EQ(list->items[1]->items.size(), 2u);
  EXPECT_EQ(list->items[1]->items[1]->text, "two");

  // Null as yaml-cpp read it: ~, null and a missing value; a quoted 'null' is text.
  const YamlNode* map = root->entries[4].second;
  ASSERT_TRUE(map->IsMapping());
  EXPECT_STREQ(YamlTypeName(*map), "a mapping");
  ASSERT_EQ(map->entries.size(), 3u);
  EXPECT_TRUE(map->entries[0].second->IsNull());
  EXPECT_STREQ(YamlTypeName(*map->entries[0].second), "nothing");
  EXPECT_FALSE(map->entries[1].second->IsNull());
  EXPECT_EQ(map->entries[1].second->text, "null");
  EXPECT_TRUE(map->entries[2].second->IsNull());
  EXPECT_EQ(root->entries[5].second->text, "one\ntwo\n");
  EXPECT_FALSE(root->entries[5].second->plain);
}

TEST(YamlTreeTest, EmptyStreamsHaveNoRoot) {
  for (const char* text : {"", "\n\n", "# a comment\n"}) {
    EXPECT_EQ(MustParse(text).root(), nullptr) << text;
  }
  const YamlDocument doc = MustParse("---\n");
  ASSERT_NE(doc.root(), nullptr);
  EXPECT_TRUE(doc.root()->IsNull());
}

TEST(YamlTreeTest, OneDocumentOnly) {
  ExpectError("a: 1\n---\nb: 2\n", 3, {"one YAML document, found 2"});
  ExpectError("--- 1\n--- 2\n--- 3\n", 2, {"found 3"});
}

TEST(YamlTreeTest, KeysAreUniqueSingleValues) {
  ExpectError("a: 1\nb: 2\na: 3\n", 3, {"key 'a' appears twice at the top level", "line 1"});
  ExpectError("f:\n  x: 1\n  'x': 2\n", 3, {"key 'x' appears twice at 'f'"});
  ExpectError("t:\n  - {u: 1, u: 2}\n", 2, {"appears twice at item 1 of 't'"});
  ExpectError("? [a]\n: b\n", 1, {"expected a key at the top level, got a list"});
  ExpectError("f: {{a: 1}: b}\n", 1, {"expected a key at 'f', got a mapping"});
  ExpectError("~: b\n", 1, {"expected a key", "got nothing"});
}

// Keys are any text: messages must not read structure into them (a key "a]" once sent the
// message builder into endless recursion; found by the mutation loop).
TEST(YamlTreeTest, KeysWithPathCharactersAreNamedAsWritten) {
  ExpectError("a]:\n  b: 1\n  b: 2\n", 3, {"key 'b' appears twice at 'a]'"});
  ExpectError("parameters.see]: [{u: 1, u: 2}]\n", 1,
              {"appears twice at item 1 of 'parameters.see]'"});
  ExpectError("[x: {a: 1, a: 2}]\n", 1, {"appears twice at '[1].x'"});
  ExpectError("l:\n  - [{k: 1, k: 2}]\n", 2, {"appears twice at item 1 of item 1 of 'l'"});
  ExpectError("\"[1]\": {\"]\": 1, \"]\": 2}\n", 1, {"key ']' appears twice at '[1]'"});
  // Long keys (explicit '?' keys: implicit ones stop at 1024 characters) on a deep path above
  // many containers: nothing is copied per container.
  std::string deep;
  for (int level = 0; level < 14; ++level) {
    deep += "{? " + std::string(60000, static_cast<char>('a' + level)) + " : ";
  }
  deep += "[";
  for (int i = 0; i < 30000; ++i) deep += "[],";
  deep += "[]]" + std::string(14, '}') + "\n";
  ASSERT_LT(deep.size(), size_t{1} << 20);
  StatusOr<YamlDocument> doc = ParseYaml(deep, kFile);
  ASSERT_TRUE(doc.ok()) << doc.status().message().substr(0, 200);
  EXPECT_EQ(doc->node_count(), 14u * 2 + 30002u);
}

TEST(YamlTreeTest, AliasesAnchorsAndTagsAreRefused) {
  ExpectError("a: &a [1]\nb: *a\n", 1, {"anchors (&a)"});
  ExpectError("a: &a [*a]\n", 1, {"anchors"});
  ExpectError("b: *a\n", 1, {"aliases (*a)"});
  // The billion laughs.
  std::string laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const char prev = static_cast<char>(c - 1);
    laughs += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
              prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
              "]\n";
  }
  ExpectError(laughs, 1, {"anchors"});
  ExpectError("a: !!str 5\n", 1, {"tags", "not supported"});
  ExpectError("a: !custom {b: 1}\n", 1, {"tags"});
  ExpectError("a:\n  - !x [1]\n", 2, {"tags"});
}

TEST(YamlTreeTest, LimitsHold) {
  // Size: checked before parsing (10 MB of otherwise fine YAML).
  std::string big;
  while (big.size() < 10u << 20) big += "- 1\n";
  ExpectError(big, 0, {"bytes, over the limit of 1048576"});
  // Depth, flow and block.
  ExpectError(std::string(100000, '['), 1, {"nested more than 64 levels"});
  std::string block;
  for (int i = 0; i < 70; ++i) block += std::string(2 * i, ' ') + "k:\n";
  ExpectError(block, 65, {"nested more than 64 levels"});
  std::string ok_depth = std::string(63, '[') + std::string(63, ']');
  EXPECT_NE(MustParse(ok_depth).root(), nullptr);
  // Node count.
  std::string many = "[";
  for (int i = 0; i < 1000; ++i) many += "1,";
  many += "1]";
  YamlLimits small;
  small.max_nodes = 500;
  ExpectError(many, 1, {"more than 500 YAML values"}, small);
  EXPECT_EQ(MustParse(many).root()->items.size(), 1001u);
  // One scalar.
  ExpectError("a: \"" + std::string(70000, 'x') + "\"\n", 1, {"a value of 70000 bytes"});
}

TEST(YamlTreeTest, NotUtf8IsRefusedNamingTheLineAndKey) {
  ExpectError("a: 1\nb: x\xffy\n", 2, {"key 'b'", "not valid UTF-8", "\\xff"});
  ExpectError("a: 1\nf:\n  c: \"x\xc3\"\n", 3, {"key 'f.c'", "\\xc3"});
  ExpectError("l:\n  - ok\n  - \xfe\n", 3, {"item 2 of 'l'", "\\xfe"});
  ExpectError("a: 1 # \xff\n", 1, {"not valid UTF-8", "\\xff"});  // in a comment
  ExpectError(
      "\xff\xfe"
      "a: 1\n",
      1, {"not valid UTF-8"});  // not read as UTF-16
  // Overlong forms and surrogates are not UTF-8 either.
  ExpectError("a: \xc0\xaf\n", 1, {"not valid UTF-8"});
  ExpectError("a: \xed\xa0\x80\n", 1, {"not valid UTF-8"});
  // Well-formed UTF-8 is kept as it is.
  EXPECT_EQ(MustParse("a: \xc3\xa9t\xc3\xa9 \xe2\x9c\x93\n").root()->entries[0].second->text,
            "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
}

TEST(YamlTreeTest, ControlCharactersAreRefused) {
  ExpectError("a: 1\nb: \x01\n", 2, {"control characters"});
  ExpectError("a: \"x\\0y\"\n", 1, {"control character \\x00"});
  ExpectError("a: \"\\x1b[31m\"\n", 1, {"control character \\x1b"});
  ExpectError("a: \"\\x85\"\n", 1, {"control character"});
  EXPECT_EQ(MustParse("a: \"x\\ty\"\n").root()->entries[0].second->text, "x\ty");
}

// Inputs on which yaml-cpp 0.7 spun forever, eating memory (found by a fuzzer on sweep files),
// and other classic parser traps: each ends in an error at once.
TEST(YamlTreeTest, FormerHangsEndInAnError) {
  const std::vector<std::string> inputs = {
      ",\n",
      ",",
      ", ,",
      "name: x\n,\n",
      "[",
      "{",
      "- - - [",
      "[,",
      "{,",
      "- ,",
      "a: ,",
      "[a,,",
      "? ,",
      ": ,",
      "&a",
      "*a",
      "&a [*a]",
      "a: &a\n  - *a\n",
      std::string(100000, '['),
      std::string(100000, '{'),
      "- " + std::string(5000, '-'),
      "\"" + std::string(10000, '\\'),
      "'",
      "a: |\n\x01",
      "%YAML 1.1\n%YAML 1.1\n",
      "!<" + std::string(10000, '!'),
      // Found by mutating sweeps/*.yaml: each made yaml-cpp's LoadAll spin.
      ", cu'",
      ",-e1.y&a{,",
      "&b-e,l&",
      "\n,  layers:{ 1\n",
      "\n  seed: 1\n,&method:* grid\nmetric: ,",
      ", recurrent_dro-pout 0.15) -[> *Dense-(",
      " ,{&label:{: B1}\n  - {label",
      "am-l --wor[kers 2\n#\n,# Protoco{l, as the write-",
  };
  for (const std::string& text : inputs) {
    SCOPED_TRACE(text.substr(0, 40));
    StatusOr<YamlDocument> doc = ParseYaml(text, kFile);
    if (doc.ok()) continue;  // a few are valid YAML ("- ,"?) : only termination matters
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(doc.status().message().rfind(kFile, 0), 0u) << doc.status().message();
  }
  // The first one, which the bug report gave.
  ExpectError(",\n", 1, {"malformed YAML"});
}

TEST(YamlTreeTest, EscapeTextKeepsMessagesPrintableUtf8) {
  EXPECT_EQ(EscapeText("plain \xc3\xa9"), "plain \xc3\xa9");
  EXPECT_EQ(EscapeText("a\xff"
                       "b"),
            "a\\xffb");
  EXPECT_EQ(EscapeText("t\tn\nr\r"), "t\\tn\\nr\\r");
  EXPECT_EQ(EscapeText(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(EscapeText("\x1b[0m\x7f"), "\\x1b[0m\\x7f");
  EXPECT_EQ(EscapeText("\xc2\x85"), "\\xc2\\x85");  // NEL, a C1 control
  EXPECT_EQ(EscapeText("\xe2\x82"), "\\xe2\\x82");  // cut short
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));
}

}  // namespace
}  // namespace hpsweep::yaml_tree_test
