// SPDX-License-Identifier: Apache-2.0
// The config adapter through the real binary: a temporary system root whose
// /etc holds text files, a file kept from others (0600), /etc/shadow and a
// PEM bundle with a private key. `diff` shows unified diffs of the text
// files and nothing of the secrets; a rollback of the component, or of the
// configuration category, puts /etc back byte for byte and leaves the rest.
#include <nlohmann/json.hpp>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::read_file;
using rwd::testing::tree_diff;
using rwd::testing::write_file;
using ::testing::HasSubstr;
using ::testing::Not;

// What each secret holds before and after the change; none of it may be
// printed.
const std::vector<std::string>& secret_words() {
  static const std::vector<std::string> k = {"OLDSECRET1", "NEWSECRET1", "OLDHASH2",
                                             "NEWHASH2",   "OLDKEY3",    "NEWKEY3"};
  return k;
}

std::string app_conf(const std::string& fifth) {
  return "# app\nlisten = 80\nworkers = 4\nlog = /var/log/app\n" + fifth +
         "\ncache = on\nuser = app\ngroup = app\n";
}

class ConfigAdapter : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(box.at("/etc/rewind/rewind.toml"),
               "[[component]]\nname = \"etc\"\nadapter = \"config\"\n"
               "exclude = [\"/etc/rewind\"]\n\n"
               "[[component]]\nname = \"data\"\ncategory = \"user_data\"\n"
               "paths = [\"/srv/data\"]\n");
    ASSERT_EQ(box.init().exit_code, 0);
    write_file(box.at("/etc/app.conf"), app_conf("timeout = 30"));
    write_file(box.at("/etc/hosts"), "127.0.0.1 localhost\n");
    write_file(box.at("/etc/secret.conf"), "password=OLDSECRET1\n", 0600);
    // Readable by all, so that only its name makes it a secret.
    write_file(box.at("/etc/shadow"), "root:OLDHASH2:19000:0:99999:7:::\n", 0644);
    // Readable by all and not named like a key: its content makes it one.
    write_file(box.at("/etc/ssl/certs/bundle.pem"),
               "-----BEGIN PRIVATE KEY-----\nOLDKEY3\n-----END PRIVATE KEY-----\n", 0644);
    write_file(box.at("/etc/default/grub"), "GRUB_TIMEOUT=5\n");
    write_file(box.at("/etc/ld.so.cache"), std::string("bin\0ary v1\n", 11));
    write_file(box.at("/srv/data/file"), "data v1\n");
    id = box.create({});
    ASSERT_GT(id, 0);
    copy_tree(box.at("/etc"), box.dir.sub("etc-at-point"));
  }

  void change() const {
    write_file(box.at("/etc/app.conf"), app_conf("timeout = 60"));
    write_file(box.at("/etc/secret.conf"), "password=NEWSECRET1\n", 0600);
    write_file(box.at("/etc/shadow"), "root:NEWHASH2:19000:0:99999:7:::\n", 0644);
    write_file(box.at("/etc/ssl/certs/bundle.pem"),
               "-----BEGIN PRIVATE KEY-----\nNEWKEY3\n-----END PRIVATE KEY-----\n", 0644);
    write_file(box.at("/etc/default/grub"), "GRUB_TIMEOUT=0\n");
    write_file(box.at("/etc/added.conf"), "new\n");
    write_file(box.at("/etc/ld.so.cache"), std::string("bin\0ary v2\n", 11));
    write_file(box.at("/srv/data/file"), "data v2\n");
  }

  // The changes of `diff ARGS --json`, by path.
  std::map<std::string, json> diff_json(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"--json", "diff"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = box.rw(argv);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    for (const auto& w : secret_words()) EXPECT_THAT(r.out + r.err, Not(HasSubstr(w)));
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    std::map<std::string, json> out;
    if (!j.is_discarded())
      for (const auto& c : j["changes"]) out[c.value("path", "")] = c;
    return out;
  }

  // The diffs the text files get, and that the secrets are only "changed".
  void expect_diff(const std::vector<std::string>& args) const {
    auto changes = diff_json(args);
    ASSERT_TRUE(changes.contains("/etc/app.conf"));
    EXPECT_EQ(changes["/etc/app.conf"]["change"], "content");
    EXPECT_EQ(changes["/etc/app.conf"]["detail"],
              "--- a/etc/app.conf\n+++ b/etc/app.conf\n@@ -2,7 +2,7 @@\n listen = 80\n"
              " workers = 4\n log = /var/log/app\n-timeout = 30\n+timeout = 60\n cache = on\n"
              " user = app\n group = app\n");
    EXPECT_EQ(changes["/etc/default/grub"]["detail"],
              "--- a/etc/default/grub\n+++ b/etc/default/grub\n@@ -1 +1 @@\n-GRUB_TIMEOUT=5\n"
              "+GRUB_TIMEOUT=0\n");
    for (const char* s : {"/etc/secret.conf", "/etc/shadow", "/etc/ssl/certs/bundle.pem"}) {
      ASSERT_TRUE(changes.contains(s)) << s;
      EXPECT_EQ(changes[s]["change"], "content") << s;
      EXPECT_EQ(changes[s]["detail"], "") << s;
      auto attrs = changes[s]["attributes"].get<std::vector<std::string>>();
      EXPECT_NE(std::find(attrs.begin(), attrs.end(), "secret"), attrs.end()) << s;
    }
    EXPECT_EQ(changes["/etc/ld.so.cache"]["change"], "content");  // binary: no diff
    EXPECT_EQ(changes["/etc/ld.so.cache"]["detail"], "");
    EXPECT_EQ(changes["/etc/added.conf"]["change"], "added");
    ASSERT_TRUE(changes.contains("/srv/data/file"));  // the files adapter's, no detail
    EXPECT_EQ(changes["/srv/data/file"]["detail"], "");
  }

  Sandbox box{"rewind-cfg"};
  int64_t id = -1;
};

TEST_F(ConfigAdapter, DiffShowsTextDiffsAndOnlyThatSecretsChanged) {
  change();
  RunResult r = box.rw({"diff", std::to_string(id)});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const auto& w : secret_words()) EXPECT_THAT(r.out + r.err, Not(HasSubstr(w)));
  EXPECT_THAT(r.out, HasSubstr("M /etc/app.conf (mtime)\n--- a/etc/app.conf\n+++ b/etc/app.conf\n"
                               "@@ -2,7 +2,7 @@\n"));
  EXPECT_THAT(r.out, HasSubstr("-timeout = 30\n+timeout = 60\n"));
  EXPECT_THAT(r.out, HasSubstr("M /etc/secret.conf (mtime,secret)\n"));
  EXPECT_THAT(r.out, HasSubstr("M /etc/shadow (mtime,secret)\n"));
  EXPECT_THAT(r.out, HasSubstr("M /etc/ssl/certs/bundle.pem (mtime,secret)\n"));
  expect_diff({std::to_string(id)});
}

TEST_F(ConfigAdapter, DiffBetweenTwoPointsShowsTheSame) {
  change();
  int64_t later = box.create({});
  ASSERT_GT(later, id);
  expect_diff({std::to_string(id), std::to_string(later)});
}

TEST_F(ConfigAdapter, ShowDescribesTheComponent) {
  RunResult r = box.rw({"--json", "show", std::to_string(id)});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  const json* etc = nullptr;
  for (const auto& c : j["components"])
    if (c.value("name", "") == "etc") etc = &c;
  ASSERT_NE(etc, nullptr) << r.out;
  EXPECT_EQ((*etc)["adapter"], "config");
  EXPECT_EQ((*etc)["category"], "configuration");
  EXPECT_EQ((*etc)["paths"], json::array({"/etc"}));
  EXPECT_EQ((*etc)["details"]["restorable"], json::array({"files"}));
  // By mode and name: secret.conf and shadow (the PEM bundle is one by its
  // content, which show does not read).
  EXPECT_EQ((*etc)["details"]["secrets"], 2);
}

TEST_F(ConfigAdapter, ComponentRollbackRestoresEtcByteForByte) {
  change();
  RunResult r =
      box.rw({"rollback", std::to_string(id), "--scope", "component", "-c", "etc", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(without_audit_dir(tree_diff(box.dir.sub("etc-at-point"), box.at("/etc"))), "");
  EXPECT_EQ(read_file(box.at("/srv/data/file")), "data v2\n");  // not in scope
}

// The facade's rollback_configuration: the configuration category alone.
TEST_F(ConfigAdapter, CategoryRollbackRestoresOnlyTheConfiguration) {
  change();
  RunResult r = box.rw({"--json", "rollback", std::to_string(id), "--scope", "partial",
                        "--category", "configuration", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  std::vector<std::string> names;
  for (const auto& c : j["components"]) names.push_back(c.value("name", ""));
  EXPECT_EQ(names, std::vector<std::string>{"etc"});
  EXPECT_EQ(without_audit_dir(tree_diff(box.dir.sub("etc-at-point"), box.at("/etc"))), "");
  EXPECT_EQ(read_file(box.at("/srv/data/file")), "data v2\n");
}

TEST_F(ConfigAdapter, UnknownSettingIsAConfigurationError) {
  write_file(box.at("/etc/rewind/rewind.toml"),
             "[[component]]\nname = \"etc\"\nadapter = \"config\"\nservices_env = [\"x\"]\n");
  RunResult r = box.rw({"list"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("has no key \"services_env\""));
}

}  // namespace
}  // namespace rwd::itest
