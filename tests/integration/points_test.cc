// SPDX-License-Identifier: Apache-2.0
// Recovery points and configuration through the command line (issue 3,
// "Configuration" and "Recovery points"; DESIGN.md "Configuration" and
// "Decisions that every part relies on"): which components `create` takes,
// the metadata of a point and its JSON form, filters and IDs, `modify` and
// its survival through `repair`, and `config validate` with every kind of
// refused file.
#include <sys/utsname.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "integration/rollback_fixture.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::write_file;
using ::testing::HasSubstr;
using ::testing::Not;

// `rewind --json ARGS` parsed; a test failure (and null) when it fails.
json json_of(const MultiFixture& f, std::vector<std::string> args) {
  args.insert(args.begin(), "--json");
  RunResult r = f.rw(args);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  auto j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << describe(r);
  return j.is_discarded() ? json() : j;
}

std::vector<int64_t> ids_of(const json& arr) {
  std::vector<int64_t> out;
  if (!arr.is_array()) return out;
  for (const auto& p : arr) out.push_back(p.at("id").get<int64_t>());
  return out;
}

std::set<std::string> component_names(const json& point) {
  std::set<std::string> out;
  for (const auto& c : point.at("components")) out.insert(c.at("name").get<std::string>());
  return out;
}

const json* find_point(const json& arr, int64_t id) {
  for (const auto& p : arr)
    if (p.at("id").get<int64_t>() == id) return &p;
  return nullptr;
}

// A small fixture: four components with a few files each (the big file kept
// small so that each test stays quick).
void small_populate(const MultiFixture& f) { f.populate(1, 4096); }

// --------------------------------------------------------------------------
// Which components `create` takes

TEST(PointsCreate, NoArgumentsTakesEveryConfiguredComponent) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  int64_t id = f.create();
  ASSERT_EQ(id, 1);
  json list = json_of(f, {"list"});
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(component_names(list[0]), (std::set<std::string>{"a", "b", "c", "d"}));
}

TEST(PointsCreate, DashCTakesOnlyTheNamedComponents) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  int64_t id = f.create({"-c", "a", "-c", "d"});
  ASSERT_GT(id, 0);
  json p = json_of(f, {"show", std::to_string(id)});
  EXPECT_EQ(component_names(p), (std::set<std::string>{"a", "d"})) << p.dump();
}

TEST(PointsCreate, UnknownComponentIsNotFound) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  RunResult r = f.rw({"create", "-c", "nosuch"});
  EXPECT_EQ(r.exit_code, 14) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("nosuch"));
  // Nothing was taken.
  EXPECT_TRUE(json_of(f, {"list"}).empty());
}

TEST(PointsCreate, PathAndComponentDoNotMix) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  RunResult r = f.rw({"create", "--path", "/srv/a", "-c", "a"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("--path"));
  EXPECT_TRUE(json_of(f, {"list"}).empty());
}

TEST(PointsCreate, PathWorksWithoutAnyConfigurationFile) {
  Sandbox box("rewind-pt");
  ASSERT_EQ(box.init().exit_code, 0);
  ASSERT_FALSE(exists_nofollow(box.at("/etc/rewind/rewind.toml")));
  write_file(box.at("/data/f"), "hello\n");
  write_file(box.at("/data/sub/g"), "world\n");
  int64_t id = box.create({"/data"});
  ASSERT_EQ(id, 1);
  RunResult r = box.rw({"--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json list = json::parse(r.out);
  ASSERT_EQ(list.size(), 1u);
  ASSERT_EQ(list[0]["components"].size(), 1u);
  // DESIGN.md: named by the normalized absolute path, files, category other.
  EXPECT_EQ(list[0]["components"][0]["name"], "/data");
  EXPECT_EQ(list[0]["components"][0]["adapter"], "files");
  EXPECT_EQ(list[0]["components"][0]["category"], "other");
}

TEST(PointsCreate, NoConfigurationAndNoPathSaysWhatToDo) {
  Sandbox box("rewind-pt");
  ASSERT_EQ(box.init().exit_code, 0);
  write_file(box.at("/data/f"), "hello\n");
  RunResult r = box.rw({"create"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  // The message tells the user both ways out.
  EXPECT_THAT(r.err, HasSubstr("--path"));
  EXPECT_THAT(r.err, HasSubstr("rewind.toml"));
}

// --------------------------------------------------------------------------
// Metadata, JSON, filters, IDs

TEST(PointsMetadata, KindsPinTagsNamesAndListJsonFields) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  const int64_t pre = f.create({"--kind", "pre"});
  const int64_t post = f.create({"--kind", "post", "--pre", std::to_string(pre)});
  const int64_t pinned = f.create({"--pin"});
  const int64_t tagged = f.create({"--tag", "x", "--tag", "y"});
  const int64_t named = f.create({"-n", "before upgrade", "-d", "the description"});
  const int64_t only_a = f.create({"-c", "a"});
  // Numbered 1, 2, 3... in creation order.
  EXPECT_EQ((std::vector<int64_t>{pre, post, pinned, tagged, named, only_a}),
            (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));

  json list = json_of(f, {"list"});
  ASSERT_TRUE(list.is_array());
  EXPECT_EQ(ids_of(list), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));

  struct utsname u {};
  ASSERT_EQ(::uname(&u), 0);
  const std::regex rfc3339(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
  const std::vector<std::string> fields = {"id",     "name",   "description", "kind",   "cause",
                                           "time",   "user",   "host",        "kernel", "tags",
                                           "pinned", "pre_id", "components"};
  for (const auto& p : list) {
    for (const auto& k : fields) EXPECT_TRUE(p.contains(k)) << "missing " << k << ": " << p.dump();
    EXPECT_TRUE(p["time"].is_string());
    EXPECT_TRUE(std::regex_match(p["time"].get<std::string>(), rfc3339)) << p["time"];
    EXPECT_FALSE(p["user"].get<std::string>().empty());
    EXPECT_EQ(p["host"], std::string(u.nodename));
    EXPECT_EQ(p["kernel"], std::string(u.release));
    EXPECT_TRUE(p["tags"].is_array());
    EXPECT_TRUE(p["pinned"].is_boolean());
    EXPECT_EQ(p["cause"], "manual") << p.dump();
    for (const auto& c : p["components"]) {
      for (const char* k : {"name", "adapter", "category", "size", "stored"})
        EXPECT_TRUE(c.contains(k)) << "component missing " << k << ": " << c.dump();
      EXPECT_EQ(c["adapter"], "files");
      EXPECT_EQ(c["category"], "other");
      EXPECT_TRUE(c["size"].is_number_unsigned());
      EXPECT_GT(c["size"].get<uint64_t>(), 0u);
      EXPECT_TRUE(c["stored"].is_number_unsigned());
    }
  }
  const json& p_pre = *find_point(list, pre);
  const json& p_post = *find_point(list, post);
  const json& p_pin = *find_point(list, pinned);
  const json& p_tag = *find_point(list, tagged);
  const json& p_named = *find_point(list, named);
  EXPECT_EQ(p_pre["kind"], "pre");
  EXPECT_TRUE(p_pre["pre_id"].is_null());
  EXPECT_EQ(p_post["kind"], "post");
  EXPECT_EQ(p_post["pre_id"], pre);
  EXPECT_EQ(p_pin["kind"], "single");
  EXPECT_TRUE(p_pin["pinned"].get<bool>());
  EXPECT_FALSE(p_pre["pinned"].get<bool>());
  EXPECT_EQ(p_tag["tags"], json({"x", "y"}));
  EXPECT_EQ(p_named["name"], "before upgrade");
  EXPECT_EQ(p_named["description"], "the description");

  // Filters.
  EXPECT_EQ(ids_of(json_of(f, {"list", "--kind", "pre"})), (std::vector<int64_t>{pre}));
  EXPECT_EQ(ids_of(json_of(f, {"list", "--kind", "post"})), (std::vector<int64_t>{post}));
  EXPECT_EQ(ids_of(json_of(f, {"list", "--tag", "x"})), (std::vector<int64_t>{tagged}));
  EXPECT_EQ(ids_of(json_of(f, {"list", "-c", "d"})),
            (std::vector<int64_t>{pre, post, pinned, tagged, named}));
  EXPECT_EQ(ids_of(json_of(f, {"list", "-c", "a"})),
            (std::vector<int64_t>{pre, post, pinned, tagged, named, only_a}));
  // An empty result is [] (DESIGN.md: "[] when empty").
  RunResult none = f.rw({"--json", "list", "--tag", "nosuch"});
  ASSERT_EQ(none.exit_code, 0) << describe(none);
  EXPECT_EQ(json::parse(none.out), json::array());
  // Text list with a filter shows only the matching point.
  RunResult text = f.rw({"list", "--kind", "post"});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_THAT(text.out, HasSubstr("post"));
  EXPECT_THAT(text.out, Not(HasSubstr("pre ")));

  // latest and latest:KIND.
  EXPECT_EQ(json_of(f, {"show", "latest"})["id"], only_a);
  EXPECT_EQ(json_of(f, {"show", "latest:pre"})["id"], pre);
  EXPECT_EQ(json_of(f, {"show", "latest:post"})["id"], post);
  EXPECT_EQ(json_of(f, {"show", "latest:single"})["id"], only_a);
  RunResult nokind = f.rw({"show", "latest:timeline"});
  EXPECT_EQ(nokind.exit_code, 14) << describe(nokind);
}

// pre_id is "the pre point a post point belongs to" (issue 3): a post
// point names an existing pre point, and no other kind carries one.
TEST(PointsMetadata, PreIdBelongsToPostPointsAndNamesAPrePoint) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  const int64_t pre = f.create({"--kind", "pre"});
  const int64_t single = f.create();
  ASSERT_EQ(single, pre + 1);
  RunResult missing = f.rw({"create", "--kind", "post", "--pre", "999"});
  EXPECT_EQ(missing.exit_code, 14) << describe(missing);
  RunResult not_pre = f.rw({"create", "--kind", "post", "--pre", std::to_string(single)});
  EXPECT_NE(not_pre.exit_code, 0) << "a post point whose pre is a single point: "
                                  << describe(not_pre);
  RunResult not_post = f.rw({"create", "--pre", std::to_string(pre)});
  EXPECT_NE(not_post.exit_code, 0) << "a single point with a pre_id: " << describe(not_post);
  RunResult pre_pre = f.rw({"create", "--kind", "pre", "--pre", std::to_string(pre)});
  EXPECT_NE(pre_pre.exit_code, 0) << "a pre point with a pre_id: " << describe(pre_pre);
  for (const auto& p : json_of(f, {"list"}))
    if (p["kind"] != "post") {
      EXPECT_TRUE(p["pre_id"].is_null()) << p.dump();
    }
  // The valid pairing still works.
  const int64_t post = f.create({"--kind", "post", "--pre", std::to_string(pre)});
  EXPECT_EQ(json_of(f, {"show", std::to_string(post)})["pre_id"], pre);
}

TEST(PointsMetadata, ShowListsEachComponentWithItsSize) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  // d gets much more data than the others.
  write_file(f.dir_of("d") + "/large.bin", rwd::testing::random_bytes(200000, 9));
  int64_t id = f.create();
  ASSERT_GT(id, 0);
  json p = json_of(f, {"show", std::to_string(id)});
  ASSERT_EQ(p["components"].size(), 4u) << p.dump();
  std::map<std::string, uint64_t> size;
  for (const auto& c : p["components"]) {
    EXPECT_TRUE(c.contains("size"));
    size[c["name"].get<std::string>()] = c["size"].get<uint64_t>();
  }
  EXPECT_GE(size["d"], size["a"] + 200000) << p.dump();
  EXPECT_GT(size["a"], 4096u);
  // The text form names every component too.
  RunResult r = f.rw({"show", std::to_string(id)});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const auto& c : fixture_components()) EXPECT_THAT(r.out, HasSubstr("    " + c + " "));
}

// --------------------------------------------------------------------------
// modify, and its survival through repair

TEST(PointsModify, RenamesRetagsPinsAndSurvivesRepair) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  int64_t id = f.create({"-n", "old", "--tag", "x", "--tag", "keep"});
  int64_t other = f.create({"-n", "other"});
  ASSERT_GT(other, id);

  RunResult m = f.rw(
      {"modify", std::to_string(id), "--name", "new name", "--tag", "t", "--untag", "x", "--pin"});
  ASSERT_EQ(m.exit_code, 0) << describe(m);
  json p = *find_point(json_of(f, {"list"}), id);
  EXPECT_EQ(p["name"], "new name");
  EXPECT_EQ(p["tags"], json({"keep", "t"}));
  EXPECT_TRUE(p["pinned"].get<bool>());
  EXPECT_EQ(ids_of(json_of(f, {"list", "--tag", "t"})), (std::vector<int64_t>{id}));
  EXPECT_TRUE(json_of(f, {"list", "--tag", "x"}).empty());

  // --unpin, by `latest`-style ID too.
  RunResult u = f.rw({"modify", std::to_string(id), "--unpin"});
  ASSERT_EQ(u.exit_code, 0) << describe(u);
  EXPECT_FALSE((*find_point(json_of(f, {"list"}), id))["pinned"].get<bool>());
  RunResult pin_latest = f.rw({"modify", "latest", "--pin"});
  ASSERT_EQ(pin_latest.exit_code, 0) << describe(pin_latest);
  EXPECT_TRUE((*find_point(json_of(f, {"list"}), other))["pinned"].get<bool>());

  // Nothing to change is a usage error; an unknown point is not found.
  RunResult nothing = f.rw({"modify", std::to_string(id)});
  EXPECT_EQ(nothing.exit_code, 2) << describe(nothing);
  RunResult missing = f.rw({"modify", "999", "--pin"});
  EXPECT_EQ(missing.exit_code, 14) << describe(missing);

  const json before = json_of(f, {"list"});
  // The catalog is only an index: rebuilt from the root records, it keeps
  // the modification.
  int removed = 0;
  for (const auto& e : std::filesystem::directory_iterator(f.box.repo))
    if (e.path().filename().string().rfind("catalog.db", 0) == 0) {
      std::filesystem::remove(e.path());
      ++removed;
    }
  ASSERT_GT(removed, 0) << "no catalog.db* in " << f.box.repo;
  RunResult rep = f.rw({"repair"});
  ASSERT_EQ(rep.exit_code, 0) << describe(rep);
  json after = json_of(f, {"list"});
  ASSERT_EQ(ids_of(after), ids_of(before));
  json p2 = *find_point(after, id);
  EXPECT_EQ(p2["name"], "new name");
  EXPECT_EQ(p2["tags"], json({"keep", "t"}));
  EXPECT_FALSE(p2["pinned"].get<bool>());
  json o2 = *find_point(after, other);
  EXPECT_EQ(o2["name"], "other");
  EXPECT_TRUE(o2["pinned"].get<bool>());
  // Everything else is the same too.
  EXPECT_EQ(after, before);
}

// --------------------------------------------------------------------------
// config validate

// A file under the fixture's root, and the path the error must name.
std::string main_config(const MultiFixture& f) { return f.box.root + "/etc/rewind/rewind.toml"; }

TEST(ConfigValidate, ValidFilePrintsComponentsInDependencyOrder) {
  MultiFixture f("rewind-pt");
  RunResult r = f.rw({"config", "validate"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  // The file lists c, a, b, d; dependency order is a, b, c, then d.
  size_t pa = r.out.find(". a ");
  size_t pb = r.out.find(". b ");
  size_t pc = r.out.find(". c ");
  size_t pd = r.out.find(". d ");
  ASSERT_NE(pa, std::string::npos) << r.out;
  ASSERT_NE(pb, std::string::npos) << r.out;
  ASSERT_NE(pc, std::string::npos) << r.out;
  ASSERT_NE(pd, std::string::npos) << r.out;
  EXPECT_LT(pa, pb) << r.out;
  EXPECT_LT(pb, pc) << r.out;
  EXPECT_THAT(r.out, HasSubstr(main_config(f)));

  json j = json_of(f, {"config", "validate"});
  EXPECT_EQ(j["valid"], true);
  ASSERT_TRUE(j["components"].is_array());
  std::vector<std::string> names;
  for (const auto& c : j["components"]) names.push_back(c["name"].get<std::string>());
  ASSERT_EQ(names.size(), 4u);
  auto pos = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  EXPECT_LT(pos("a"), pos("b"));
  EXPECT_LT(pos("b"), pos("c"));
  EXPECT_EQ(j["files"], json({main_config(f)}));
  for (const auto& c : j["components"]) {
    if (c["name"] == "c") {
      EXPECT_EQ(c["depends_on"], json({"b"}));
      EXPECT_EQ(c["services"], json({"svc-c"}));
      EXPECT_EQ(c["paths"], json({"/srv/c"}));
    }
    if (c["name"] == "a") {
      EXPECT_EQ(c["critical"], true);
    }
  }
}

TEST(ConfigValidate, UnknownKeyNamesFileLineAndKey) {
  MultiFixture f("rewind-pt");
  f.write_config(
      "[[component]]\n"           // 1
      "name = \"a\"\n"            // 2
      "paths = [\"/srv/a\"]\n"    // 3
      "\n"                        // 4
      "[[component]]\n"           // 5
      "name = \"b\"\n"            // 6
      "paths = [\"/srv/b\"]\n"    // 7
      "servces = [\"typo\"]\n");  // 8
  RunResult r = f.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr(main_config(f) + ":8"));
  EXPECT_THAT(r.err, HasSubstr("servces"));
}

TEST(ConfigValidate, UnknownTopLevelKeyNamesFileLineAndKey) {
  MultiFixture f("rewind-pt");
  f.write_config(
      "[[component]]\n"
      "name = \"a\"\n"
      "paths = [\"/srv/a\"]\n"
      "\n"
      "[retension]\n"  // 5
      "keep_last = 3\n");
  RunResult r = f.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr(main_config(f) + ":5"));
  EXPECT_THAT(r.err, HasSubstr("retension"));
}

TEST(ConfigValidate, DependencyCycleIsRefusedNamingTheCycle) {
  MultiFixture f("rewind-pt");
  f.write_config(
      "[[component]]\nname = \"x\"\npaths = [\"/srv/x\"]\ndepends_on = [\"z\"]\n\n"
      "[[component]]\nname = \"y\"\npaths = [\"/srv/y\"]\ndepends_on = [\"x\"]\n\n"
      "[[component]]\nname = \"z\"\npaths = [\"/srv/z\"]\ndepends_on = [\"y\"]\n\n"
      "[[component]]\nname = \"free\"\npaths = [\"/srv/free\"]\n");
  RunResult r = f.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("cycle"));
  EXPECT_THAT(r.err, HasSubstr(main_config(f)));
  // Every member of the cycle is named (as a word of its own).
  for (const char* n : {"x", "y", "z"})
    EXPECT_TRUE(std::regex_search(r.err, std::regex(std::string("\\b") + n + "\\b")))
        << n << ": " << r.err;
  // The cycle, not the independent component.
  EXPECT_THAT(r.err, Not(HasSubstr("free")));
}

TEST(ConfigValidate, SelfDependencyIsRefused) {
  MultiFixture f("rewind-pt");
  f.write_config("[[component]]\nname = \"x\"\npaths = [\"/srv/x\"]\ndepends_on = [\"x\"]\n");
  RunResult r = f.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("x"));
}

TEST(ConfigValidate, UnknownDependencyIsRefused) {
  MultiFixture f("rewind-pt");
  f.write_config(
      "[[component]]\nname = \"x\"\npaths = [\"/srv/x\"]\n\n"
      "[[component]]\nname = \"y\"\npaths = [\"/srv/y\"]\n"
      "depends_on = [\"x\", \"ghost\"]\n");  // line 8
  RunResult r = f.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("ghost"));
  EXPECT_THAT(r.err, HasSubstr(main_config(f) + ":8"));
}

TEST(ConfigValidate, OverlappingPathsRefusedUnlessExcluded) {
  MultiFixture f("rewind-pt");
  f.write_config(
      "[[component]]\nname = \"outer\"\npaths = [\"/srv\"]\n\n"
      "[[component]]\nname = \"inner\"\npaths = [\"/srv/inner\"]\n");
  RunResult r = f.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("overlap"));
  EXPECT_THAT(r.err, HasSubstr("outer"));
  EXPECT_THAT(r.err, HasSubstr("inner"));

  // The same path in two components.
  f.write_config(
      "[[component]]\nname = \"one\"\npaths = [\"/srv/same\"]\n\n"
      "[[component]]\nname = \"two\"\npaths = [\"/srv/same/\"]\n");
  RunResult same = f.rw({"config", "validate"});
  EXPECT_EQ(same.exit_code, 2) << describe(same);
  EXPECT_THAT(same.err, HasSubstr("/srv/same"));

  // Inner listed first, outer second: still refused.
  f.write_config(
      "[[component]]\nname = \"inner\"\npaths = [\"/srv/inner\"]\n\n"
      "[[component]]\nname = \"outer\"\npaths = [\"/srv\"]\n");
  RunResult rev = f.rw({"config", "validate"});
  EXPECT_EQ(rev.exit_code, 2) << describe(rev);
  EXPECT_THAT(rev.err, HasSubstr("overlap"));

  // With the inner path excluded from the outer component: accepted.
  f.write_config(
      "[[component]]\nname = \"outer\"\npaths = [\"/srv\"]\nexclude = [\"/srv/inner\"]\n\n"
      "[[component]]\nname = \"inner\"\npaths = [\"/srv/inner\"]\n");
  RunResult ok = f.rw({"config", "validate"});
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_THAT(ok.out, HasSubstr("outer"));
  EXPECT_THAT(ok.out, HasSubstr("inner"));
}

TEST(ConfigValidate, TomlSyntaxErrorNamesTheLine) {
  MultiFixture f("rewind-pt");
  f.write_config(
      "[[component]]\n"
      "name = \"a\"\n"
      "paths = [\"/srv/a\"\n"  // 3: unterminated array
      "critical = true\n");
  RunResult r = f.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr(main_config(f) + ":"));
  f.write_config(
      "[[component]]\n"
      "name = \"a\n"  // 2: unterminated string
      "paths = [\"/srv/a\"]\n");
  RunResult s = f.rw({"config", "validate"});
  EXPECT_EQ(s.exit_code, 2) << describe(s);
  EXPECT_THAT(s.err, HasSubstr(main_config(f) + ":2"));
}

TEST(ConfigValidate, ConfigOptionOverridesTheDefaultFile) {
  MultiFixture f("rewind-pt");
  const std::string other = f.box.dir.sub("elsewhere/custom.toml");
  write_file(other, "[[component]]\nname = \"elsewhere\"\npaths = [\"/opt/e\"]\n");
  // --config FILE
  RunResult r = f.rw({"--config", other, "config", "validate"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("elsewhere"));
  EXPECT_THAT(r.out, Not(HasSubstr(". a ")));
  EXPECT_THAT(r.out, HasSubstr(other));
  // config validate FILE
  RunResult v = f.rw({"config", "validate", other});
  ASSERT_EQ(v.exit_code, 0) << describe(v);
  EXPECT_THAT(v.out, HasSubstr("elsewhere"));
  EXPECT_THAT(v.out, Not(HasSubstr(". a ")));
  // And other commands follow it: create takes the one component it names.
  write_file(f.box.at("/opt/e/file"), "e\n");
  RunResult c = f.rw({"--config", other, "-q", "create"});
  ASSERT_EQ(c.exit_code, 0) << describe(c);
  json p = json_of(f, {"show", "latest"});
  EXPECT_EQ(component_names(p), (std::set<std::string>{"elsewhere"}));
  // A --config file that does not exist is an error, not the default.
  RunResult missing = f.rw({"--config", f.box.dir.sub("nope.toml"), "config", "validate"});
  EXPECT_NE(missing.exit_code, 0) << describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("nope.toml"));
}

TEST(ConfigValidate, DropInsAreReadInLexicalOrder) {
  MultiFixture f("rewind-pt");
  const std::string confd = f.box.root + "/etc/rewind/conf.d";
  // Written in the opposite order of their names, so that neither creation
  // nor directory order can pass for lexical order.
  write_file(confd + "/20-later.toml",
             "[[component]]\nname = \"z\"\ncritical = true\nservices = [\"from-20\"]\n");
  write_file(confd + "/10-first.toml",
             "[[component]]\nname = \"z\"\npaths = [\"/srv/z\"]\ncritical = false\n"
             "services = [\"from-10\"]\n");
  write_file(confd + "/.hidden.toml", "this is not toml [\n");
  write_file(confd + "/notes.txt", "not a drop-in\n");
  json j = json_of(f, {"config", "validate"});
  ASSERT_EQ(j["valid"], true) << j.dump();
  EXPECT_EQ(j["files"], json({main_config(f), confd + "/10-first.toml", confd + "/20-later.toml"}));
  const json* z = nullptr;
  for (const auto& c : j["components"])
    if (c["name"] == "z") z = &c;
  ASSERT_NE(z, nullptr) << j.dump();
  EXPECT_EQ((*z)["critical"], true);
  EXPECT_EQ((*z)["services"], json({"from-20"}));
  EXPECT_EQ((*z)["paths"], json({"/srv/z"}));
  EXPECT_EQ(j["components"].size(), 5u);

  // An error in a drop-in names the drop-in.
  write_file(confd + "/30-bad.toml", "[[component]]\nname = \"z\"\nbogus = 1\n");
  RunResult bad = f.rw({"config", "validate"});
  EXPECT_EQ(bad.exit_code, 2) << describe(bad);
  EXPECT_THAT(bad.err, HasSubstr(confd + "/30-bad.toml:3"));
  EXPECT_THAT(bad.err, HasSubstr("bogus"));
}

TEST(ConfigValidate, BadConfigurationFailsOtherCommandsWithTheSameMessage) {
  MultiFixture f("rewind-pt");
  small_populate(f);
  ASSERT_EQ(f.create(), 1);
  f.write_config(
      "[[component]]\nname = \"a\"\npaths = [\"/srv/a\"]\n"
      "depends_on = [\"ghost\"]\n");
  RunResult v = f.rw({"config", "validate"});
  ASSERT_EQ(v.exit_code, 2) << describe(v);
  ASSERT_THAT(v.err, HasSubstr("ghost"));
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"create"}, {"list"}, {"show", "1"}, {"rollback", "1", "--yes"}}) {
    RunResult r = f.rw(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << describe(r);
    EXPECT_EQ(r.err, v.err) << args[0];
  }
  // Nothing was taken.
  f.write_config("[[component]]\nname = \"a\"\npaths = [\"/srv/a\"]\n");
  EXPECT_EQ(ids_of(json_of(f, {"list"})), (std::vector<int64_t>{1}));
}

}  // namespace
}  // namespace rwd::itest
