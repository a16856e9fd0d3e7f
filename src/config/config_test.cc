// SPDX-License-Identifier: Apache-2.0
#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "io/fs.h"
#include "support/test_support.h"

namespace rwd::config {
namespace {

using ::rwd::testing::HasError;
using ::rwd::testing::IsOk;
using ::rwd::testing::TempDir;
using ::rwd::testing::write_file;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr const char* kSource = "/r/etc/rewind/rewind.toml";

Result<Config> parse_one(const std::string& text) { return parse({{kSource, text}}); }

template <typename T>
std::string error_of(const Result<T>& r) {
  return r ? std::string("<no error>") : r.error().message();
}

std::vector<std::string> names(const Config& c) {
  std::vector<std::string> out;
  for (const auto& comp : c.components) out.push_back(comp.name);
  return out;
}

// DESIGN.md's example, line for line (line numbers matter below).
constexpr const char* kDesignExample = R"([repository]
path = "/var/lib/rewind"
compression = "zstd:3"

[[component]]
name = "etc"                 # unique; used with -c
adapter = "files"
category = "configuration"
paths = ["/etc"]
exclude = ["/etc/mtab"]

[[component]]
name = "appdb"
adapter = "sqlite"
category = "database"
path = "/var/lib/app/app.db"
depends_on = ["etc"]
services = ["app"]
critical = true

[[component]]
name = "shop"
adapter = "postgres"
category = "database"
host = "/run/postgresql"
port = 5432
user = "postgres"
databases = ["shop"]

[[component]]
name = "services"
adapter = "services"
category = "system_services"
manager = "runit"
service_dir = "/etc/service"
units = ["app", "nginx"]

[retention]
keep_last = 10
keep_within = "24h"
max_per_kind = 5

[auto_rollback]
enabled = true
triggers = ["update-failure", "timeout", "service-failure", "health-critical",
            "critical-error", "corruption"]
max_rollback_time = "5min"
partial = true
priority_components = ["kernel", "services", "etc"]

[[check]]
name = "web"
command = ["curl", "-fsS", "http://127.0.0.1/health"]
timeout = "10s"
critical = true
)";

TEST(ConfigParse, DesignExampleParsesWithAdapterKeysInSettings) {
  // The shape DESIGN.md documents parses; keys the common set does not know
  // stay with the adapter as JSON, and the other sections are kept as JSON.
  auto c = parse_one(kDesignExample);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->repository.path, "/var/lib/rewind");
  EXPECT_EQ(c->repository.compression_level, 3);
  EXPECT_THAT(c->files, ElementsAre(kSource));
  EXPECT_THAT(names(*c), ElementsAre("etc", "appdb", "shop", "services"));

  const ComponentConfig* etc = c->find("etc");
  ASSERT_NE(etc, nullptr);
  EXPECT_EQ(etc->adapter, "files");
  EXPECT_EQ(etc->category, "configuration");
  EXPECT_THAT(etc->paths, ElementsAre("/etc"));
  EXPECT_THAT(etc->exclude, ElementsAre("/etc/mtab"));
  EXPECT_EQ(etc->settings, nlohmann::json::object());
  EXPECT_EQ(etc->origin, std::string(kSource) + ":5");

  const ComponentConfig* appdb = c->find("appdb");
  ASSERT_NE(appdb, nullptr);
  EXPECT_EQ(appdb->adapter, "sqlite");
  EXPECT_THAT(appdb->paths, ElementsAre("/var/lib/app/app.db"));
  EXPECT_THAT(appdb->depends_on, ElementsAre("etc"));
  EXPECT_THAT(appdb->services, ElementsAre("app"));
  EXPECT_TRUE(appdb->critical);
  EXPECT_FALSE(etc->critical);
  EXPECT_EQ(appdb->origin, std::string(kSource) + ":12");

  const ComponentConfig* shop = c->find("shop");
  ASSERT_NE(shop, nullptr);
  EXPECT_TRUE(shop->paths.empty());
  EXPECT_EQ(shop->settings, (nlohmann::json{{"host", "/run/postgresql"},
                                            {"port", 5432},
                                            {"user", "postgres"},
                                            {"databases", nlohmann::json::array({"shop"})}}));

  const ComponentConfig* services = c->find("services");
  ASSERT_NE(services, nullptr);
  EXPECT_EQ(services->category, "system_services");
  EXPECT_EQ(services->settings,
            (nlohmann::json{{"manager", "runit"},
                            {"service_dir", "/etc/service"},
                            {"units", nlohmann::json::array({"app", "nginx"})}}));

  EXPECT_EQ(c->sections["retention"]["keep_last"], 10);
  EXPECT_EQ(c->sections["retention"]["keep_within"], "24h");
  EXPECT_EQ(c->sections["auto_rollback"]["triggers"].size(), 6u);
  ASSERT_TRUE(c->sections["check"].is_array());
  ASSERT_EQ(c->sections["check"].size(), 1u);
  EXPECT_EQ(c->sections["check"][0]["name"], "web");
  EXPECT_EQ(c->find("nope"), nullptr);
}

TEST(ConfigParse, EachAdapterHasItsDefaultCategory) {
  // DESIGN.md's categories: a component that names none gets its adapter's.
  const std::pair<const char*, const char*> cases[] = {
      {"files", "other"},        {"config", "configuration"},
      {"kernel", "kernel_core"}, {"services", "system_services"},
      {"sqlite", "database"},    {"postgres", "database"},
      {"packages", "other"},     {"command", "other"}};
  for (const auto& [adapter, category] : cases) {
    auto c = parse_one(
        fmt::format("[[component]]\nname = \"x\"\nadapter = \"{}\"\npath = \"/x\"\n", adapter));
    ASSERT_THAT(c, IsOk()) << adapter;
    EXPECT_EQ(c->components.at(0).category, category) << adapter;
  }
  // A category given wins.
  auto c = parse_one(
      "[[component]]\nname = \"x\"\nadapter = \"kernel\"\ncategory = \"device_drivers\"\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->components.at(0).category, "device_drivers");
}

TEST(ConfigParse, DefaultsApplyWhenKeysAreMissing) {
  // A component names only what it needs; the rest takes the documented
  // defaults, and so do [repository] and [service_manager].
  auto c = parse_one("[[component]]\nname = \"etc\"\npath = \"/etc\"\n");
  ASSERT_THAT(c, IsOk());
  const ComponentConfig& etc = c->components.at(0);
  EXPECT_EQ(etc.adapter, "files");
  EXPECT_EQ(etc.category, "other");
  EXPECT_FALSE(etc.critical);
  EXPECT_TRUE(etc.pre_capture.empty());
  EXPECT_EQ(c->repository.path, "");
  EXPECT_EQ(c->repository.compression_level, 3);
  EXPECT_EQ(c->service_manager.type, "command");
  EXPECT_EQ(c->service_manager.timeout, "5min");
}

TEST(ConfigParse, ComponentsComeAfterTheirDependencies) {
  // Declared before what it depends on, a component still comes after it.
  auto c = parse_one(R"(
[[component]]
name = "app"
adapter = "command"
depends_on = ["db", "etc"]
[[component]]
name = "db"
adapter = "sqlite"
path = "/var/lib/db.sqlite"
depends_on = ["etc"]
[[component]]
name = "etc"
paths = ["/etc"]
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(names(*c), ElementsAre("etc", "db", "app"));
}

TEST(ConfigParse, IndependentComponentsKeepFileOrder) {
  // Ties keep the file's order: z, m, a are independent; b depends on a
  // only, so it follows a and nothing else moves.
  auto c = parse_one(R"(
[[component]]
name = "z"
adapter = "kernel"
[[component]]
name = "b"
adapter = "kernel"
depends_on = ["a"]
[[component]]
name = "m"
adapter = "kernel"
[[component]]
name = "a"
adapter = "kernel"
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(names(*c), ElementsAre("z", "m", "a", "b"));
}

TEST(ConfigParse, DependencyCycleIsRefusedAndNamed) {
  // a -> b -> c -> a cannot be ordered; the error names the whole cycle.
  auto c = parse_one(R"(
[[component]]
name = "a"
adapter = "kernel"
depends_on = ["b"]
[[component]]
name = "b"
adapter = "kernel"
depends_on = ["c"]
[[component]]
name = "c"
adapter = "kernel"
depends_on = ["a"]
)");
  EXPECT_THAT(c, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(c), HasSubstr("dependency cycle: a -> b -> c -> a"));

  auto two = parse_one(R"(
[[component]]
name = "x"
adapter = "kernel"
[[component]]
name = "a"
adapter = "kernel"
depends_on = ["x", "b"]
[[component]]
name = "b"
adapter = "kernel"
depends_on = ["a"]
)");
  EXPECT_THAT(error_of(two), HasSubstr("dependency cycle: a -> b -> a"));
}

TEST(ConfigParse, SelfDependencyIsRefused) {
  // A component that depends on itself is refused at the line of the name.
  auto c = parse_one("[[component]]\nname = \"a\"\nadapter = \"kernel\"\ndepends_on = [\"a\"]\n");
  EXPECT_THAT(c, HasError(ErrorCode::kUsage));
  EXPECT_EQ(error_of(c), std::string(kSource) + ":4: component \"a\": depends on itself");
}

TEST(ConfigParse, UnknownDependencyIsRefusedWithItsLine) {
  // A dependency on a component nobody defined is a mistake, reported where
  // it is written.
  auto c = parse_one(R"([[component]]
name = "etc"
paths = ["/etc"]

[[component]]
name = "app"
adapter = "command"
depends_on = ["etc",
              "ect"]
)");
  EXPECT_THAT(c, HasError(ErrorCode::kUsage));
  EXPECT_EQ(error_of(c),
            std::string(kSource) + ":9: component \"app\": unknown dependency \"ect\"");
}

TEST(ConfigParse, UnknownKeyOfFilesComponentNamesFileLineAndKey) {
  // The files adapter has no settings of its own: a misspelt key is an error
  // at its own line.
  auto c = parse_one(R"([repository]
path = "/var/lib/rewind"

[[component]]
name = "appdb"
paths = ["/srv/app"]
servces = ["app"]
)");
  EXPECT_THAT(c, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(c),
              HasSubstr(std::string(kSource) + ":7: component \"appdb\": unknown key \"servces\""));
}

TEST(ConfigParse, OtherAdaptersKeepUnknownKeysAsSettings) {
  // For adapters with settings of their own, unknown keys are theirs.
  auto c = parse_one(R"([[component]]
name = "k"
adapter = "kernel"
parts = ["sysctl", "modules"]
limits = { max = 3, ratio = 0.5 }
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->components[0].settings,
            (nlohmann::json{{"parts", nlohmann::json::array({"sysctl", "modules"})},
                            {"limits", {{"max", 3}, {"ratio", 0.5}}}}));
}

TEST(ConfigParse, UnknownTopLevelAndSectionKeysAreRefused) {
  // Top-level tables and the keys of [repository] and [service_manager] are
  // a closed set.
  auto top = parse_one("[repository]\npath = \"/x\"\n\n[retension]\nkeep_last = 3\n");
  EXPECT_THAT(top, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(top),
              HasSubstr(std::string(kSource) + ":4: unknown top-level key \"retension\""));

  auto repo = parse_one("[repository]\npath = \"/x\"\ncompresion = \"zstd\"\n");
  EXPECT_THAT(error_of(repo),
              HasSubstr(std::string(kSource) + ":3: repository: unknown key \"compresion\""));

  auto sm =
      parse_one("[service_manager]\ntype = \"command\"\nstart = [\"sv\", \"up\"]\nrestart = []\n");
  EXPECT_THAT(error_of(sm),
              HasSubstr(std::string(kSource) + ":4: service_manager: unknown key \"restart\""));
}

TEST(ConfigParse, WrongTypesAreRefusedWithLine) {
  // Each key has one type; anything else is an error naming the line.
  auto paths = parse_one("[[component]]\nname = \"etc\"\n\npaths = \"/etc\"\n");
  EXPECT_THAT(paths, HasError(ErrorCode::kUsage));
  EXPECT_EQ(error_of(paths),
            std::string(kSource) + ":4: component \"etc\": paths must be an array of strings");

  auto elem = parse_one("[[component]]\nname = \"etc\"\npaths = [\"/etc\",\n 3]\n");
  EXPECT_EQ(error_of(elem),
            std::string(kSource) + ":4: component \"etc\": paths must be an array of strings");

  auto critical =
      parse_one("[[component]]\nname = \"etc\"\npaths = [\"/etc\"]\ncritical = \"yes\"\n");
  EXPECT_THAT(error_of(critical),
              HasSubstr(":4: component \"etc\": critical must be true or false"));

  auto retention = parse_one("retention = 5\n");
  EXPECT_THAT(error_of(retention), HasSubstr(":1: retention must be a table"));

  auto check = parse_one("[check]\nname = \"web\"\n");
  EXPECT_THAT(error_of(check), HasSubstr(":1: check must be an array of tables"));

  auto stop = parse_one("[service_manager]\nstop = \"sv down {service}\"\n");
  EXPECT_THAT(error_of(stop), HasSubstr(":2: service_manager: stop must be an array of strings"));

  auto nameless = parse_one("[[component]]\nadapter = \"kernel\"\n");
  EXPECT_THAT(error_of(nameless), HasSubstr(":1: component without a name"));
}

TEST(ConfigParse, TomlSyntaxErrorNamesFileLineAndColumn) {
  // toml++'s own description, prefixed with where it happened.
  auto c = parse_one("[repository]\npath = \"/x\"\ncompression = zstd\n");
  EXPECT_THAT(c, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(c), HasSubstr(std::string(kSource) + ":3:"));
}

TEST(ConfigParse, UnknownAdapterAndCategoryListTheValidOnes) {
  auto adapter = parse_one("[[component]]\nname = \"x\"\nadapter = \"zfs\"\n");
  EXPECT_THAT(adapter, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(adapter), HasSubstr(":3: component \"x\": unknown adapter \"zfs\""));
  EXPECT_THAT(error_of(adapter),
              HasSubstr("files, config, kernel, services, sqlite, postgres, packages, command"));

  auto category =
      parse_one("[[component]]\nname = \"x\"\nadapter = \"kernel\"\ncategory = \"db\"\n");
  EXPECT_THAT(error_of(category), HasSubstr(":4: component \"x\": unknown category \"db\""));
  EXPECT_THAT(error_of(category), HasSubstr("kernel_core, system_services, device_drivers, "
                                            "configuration, user_data, database, other"));
}

TEST(ConfigParse, InvalidAndDuplicateNamesAreRefused) {
  auto upper = parse_one("[[component]]\nname = \"Etc\"\npaths = [\"/etc\"]\n");
  EXPECT_THAT(error_of(upper), HasSubstr(":2: component \"Etc\": invalid name"));

  auto twice = parse_one(
      "[[component]]\nname = \"etc\"\npaths = [\"/etc\"]\n"
      "[[component]]\nname = \"etc\"\npaths = [\"/srv\"]\n");
  EXPECT_THAT(twice, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(twice), HasSubstr(":4: component \"etc\" is defined twice (first at " +
                                         std::string(kSource) + ":1)"));
}

TEST(ConfigParse, PathsAreNormalizedAndMustBeAbsolute) {
  // "//" collapses, a trailing "/" goes; relative paths, "." and ".." are
  // refused; path-based adapters need a path at all.
  auto c = parse_one(
      "[[component]]\nname = \"a\"\npaths = [\"//srv//www/\"]\npath = \"/opt/\"\n"
      "[[component]]\nname = \"r\"\npaths = [\"/\"]\nexclude = [\"/srv\", \"/opt\"]\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(c->find("a")->paths, ElementsAre("/srv/www", "/opt"));
  EXPECT_THAT(c->find("r")->paths, ElementsAre("/"));

  auto relative = parse_one("[[component]]\nname = \"a\"\npaths = [\"etc\"]\n");
  EXPECT_THAT(error_of(relative), HasSubstr(":3: component \"a\": path \"etc\" is not absolute"));
  auto dotdot = parse_one("[[component]]\nname = \"a\"\npaths = [\"/etc/../root\"]\n");
  EXPECT_THAT(error_of(dotdot),
              HasSubstr(":3: component \"a\": path \"/etc/../root\" contains \"..\""));
  auto dot = parse_one("[[component]]\nname = \"a\"\npath = \"/etc/./x\"\n");
  EXPECT_THAT(error_of(dot), HasSubstr("contains \".\""));
  auto none = parse_one("[[component]]\nname = \"a\"\nadapter = \"files\"\n");
  EXPECT_THAT(error_of(none),
              HasSubstr(":1: component \"a\": adapter \"files\" needs at least one path"));
  auto inside = parse_one("[[component]]\nname = \"a\"\npaths = [\"/etc\", \"/etc/ssh\"]\n");
  EXPECT_THAT(error_of(inside), HasSubstr("component \"a\": paths /etc and /etc/ssh overlap"));
}

TEST(ConfigParse, ConfigComponentsDefaultToEtcAndTakeTheEnvironmentFiles) {
  // The first config component without them takes them; the others do not
  // capture them twice.
  auto c = parse_one(
      "[[component]]\nname = \"web\"\nadapter = \"config\"\npaths = [\"/srv/web\"]\n"
      "[[component]]\nname = \"boot\"\nadapter = \"config\"\npaths = [\"/boot/grub\"]\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(c->find("web")->paths,
              ElementsAre("/srv/web", "/etc/environment", "/etc/default", "/etc/environment.d"));
  EXPECT_THAT(c->find("boot")->paths, ElementsAre("/boot/grub"));
  c = parse_one(
      "[[component]]\nname = \"etc\"\nadapter = \"config\"\n"
      "[[component]]\nname = \"web\"\nadapter = \"config\"\ncategory = \"other\"\n"
      "paths = [\"/srv/web/conf\"]\n");
  // /etc holds the environment files already: "etc" keeps them.
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(c->find("etc")->paths, ElementsAre("/etc"));
  EXPECT_EQ(c->find("etc")->category, "configuration");
  EXPECT_THAT(c->find("web")->paths, ElementsAre("/srv/web/conf"));
  EXPECT_EQ(c->find("web")->category, "other");
  c = parse_one(
      "[[component]]\nname = \"web\"\nadapter = \"config\"\npaths = [\"/srv/web\"]\n"
      "[[component]]\nname = \"grub\"\npaths = [\"/etc/default/grub\"]\n");
  ASSERT_THAT(c, IsOk());
  // /etc/default is left out: "grub" holds a part of it.
  EXPECT_THAT(c->find("web")->paths,
              ElementsAre("/srv/web", "/etc/environment", "/etc/environment.d"));
}

TEST(ConfigParse, OverlappingComponentsAreRefusedUnlessExcluded) {
  const std::string inner =
      "[[component]]\nname = \"b\"\nadapter = \"config\"\npaths = [\"/etc/app\"]\n";
  auto outer = [&](const std::string& exclude) {
    return parse_one("[[component]]\nname = \"a\"\npaths = [\"/etc\"]\nexclude = [" + exclude +
                     "]\n" + inner);
  };
  // No exclude, or one that does not name the inner path from the root.
  for (const std::string& ex : {std::string(), std::string("\"app\""),
                                std::string("\"/etc/app/x\""), std::string("\"/etc/ap*\"")}) {
    auto c = outer(ex);
    EXPECT_THAT(c, HasError(ErrorCode::kUsage)) << ex;
    EXPECT_THAT(error_of(c), HasSubstr(":8: components \"a\" (/etc) and \"b\" (/etc/app) overlap; "
                                       "exclude /etc/app from \"a\""))
        << ex;
  }
  // The inner path itself, with or without a trailing slash, or a parent of
  // it inside the outer path.
  EXPECT_THAT(outer("\"/etc/app\""), IsOk());
  EXPECT_THAT(outer("\"/tmp\", \"/etc/app/\""), IsOk());
  auto deeper = parse_one(
      "[[component]]\nname = \"a\"\npaths = [\"/etc\"]\nexclude = [\"/etc/app\"]\n"
      "[[component]]\nname = \"b\"\npaths = [\"/etc/app/conf\"]\n");
  EXPECT_THAT(deeper, IsOk());
  // The order of definition does not matter: the outer one may come second.
  auto reversed = parse_one(inner + "[[component]]\nname = \"a\"\npaths = [\"/etc\"]\n");
  EXPECT_THAT(error_of(reversed),
              HasSubstr("components \"a\" (/etc) and \"b\" (/etc/app) overlap"));
  // Equal paths are refused whatever is excluded; other adapters never overlap.
  auto same = parse_one(
      "[[component]]\nname = \"a\"\npaths = [\"/etc\"]\nexclude = [\"/etc\"]\n"
      "[[component]]\nname = \"b\"\npaths = [\"/etc/\"]\n");
  EXPECT_THAT(error_of(same), HasSubstr("components \"a\" and \"b\" both capture /etc"));
  auto db = parse_one(
      "[[component]]\nname = \"a\"\npaths = [\"/var\"]\n"
      "[[component]]\nname = \"b\"\nadapter = \"sqlite\"\npath = \"/var/lib/x.db\"\n");
  EXPECT_THAT(db, IsOk());
}

TEST(ConfigParse, CaptureHooksTakeArgvOrAShellLine) {
  auto c = parse_one(R"([[component]]
name = "db"
adapter = "command"
pre_capture = ["/usr/bin/app", "flush", "--all"]
post_capture = "app resume && echo ok"
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(c->components[0].pre_capture, ElementsAre("/usr/bin/app", "flush", "--all"));
  EXPECT_THAT(c->components[0].post_capture, ElementsAre("/bin/sh", "-c", "app resume && echo ok"));
  auto bad = parse_one("[[component]]\nname = \"db\"\nadapter = \"command\"\npre_capture = 1\n");
  EXPECT_THAT(error_of(bad), HasSubstr(":4: component \"db\": pre_capture must be an array"));
}

TEST(ConfigParse, CompressionAcceptsZstdLevelsOneToNineteen) {
  auto level = [](const std::string& s) {
    auto c = parse_one("[repository]\ncompression = \"" + s + "\"\n");
    return c ? c->repository.compression_level : -1;
  };
  EXPECT_EQ(level("zstd"), 3);
  EXPECT_EQ(level("zstd:1"), 1);
  EXPECT_EQ(level("zstd:19"), 19);
  for (const char* bad : {"zstd:0", "zstd:20", "zstd:", "zstd:3x", "gzip", "zstd:-1", ""})
    EXPECT_EQ(level(bad), -1) << bad;
  auto c = parse_one("[repository]\n\ncompression = \"lz4\"\n");
  EXPECT_THAT(error_of(c), HasSubstr(":3: repository: compression must be \"zstd\" or \"zstd:N\""));
  auto rel = parse_one("[repository]\npath = \"var/lib/rewind\"\n");
  EXPECT_THAT(error_of(rel), HasSubstr(":2: repository: path must be an absolute path"));
}

TEST(ConfigParse, ServiceManagerTemplatesAndTimeout) {
  auto c = parse_one(R"([service_manager]
type = "command"
stop = ["sv", "down", "{service}"]
start = ["sv", "up", "{service}"]
status = ["sv", "check", "{service}"]
timeout = "90s"
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(c->service_manager.stop, ElementsAre("sv", "down", "{service}"));
  EXPECT_THAT(c->service_manager.start, ElementsAre("sv", "up", "{service}"));
  EXPECT_THAT(c->service_manager.status, ElementsAre("sv", "check", "{service}"));
  EXPECT_EQ(c->service_manager.timeout, "90s");
  EXPECT_THAT(parse_one("[service_manager]\ntype = \"runit\"\n"), IsOk());
  auto runit = parse_one(
      "[service_manager]\nkind = \"runit\"\nservice_dir = \"/var/service/\"\nsv = [\"sv\", "
      "\"-v\"]\n");
  ASSERT_THAT(runit, IsOk());
  EXPECT_EQ(runit->service_manager.type, "runit");
  EXPECT_EQ(runit->service_manager.service_dir, "/var/service");
  EXPECT_THAT(runit->service_manager.sv, ElementsAre("sv", "-v"));
  EXPECT_THAT(error_of(parse_one("[service_manager]\ntype = \"upstart\"\n")),
              HasSubstr(":2: service_manager: type: unknown type \"upstart\""));
  EXPECT_THAT(error_of(parse_one("[service_manager]\ntimeout = \"soon\"\n")),
              HasSubstr(":2: service_manager: timeout: invalid duration \"soon\""));
}

TEST(ConfigParse, ServicesComponentDefaultsToSystemServices) {
  // A services component without a category is system_services; one that
  // names its category keeps it.
  auto svc = parse_one("[[component]]\nname = \"s\"\nadapter = \"services\"\nunits = [\"a\"]\n");
  ASSERT_THAT(svc, IsOk());
  EXPECT_EQ(svc->components[0].category, "system_services");
  auto other = parse_one(
      "[[component]]\nname = \"s\"\nadapter = \"services\"\ncategory = \"other\"\nunits = "
      "[\"a\"]\n");
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->components[0].category, "other");
}

TEST(ConfigParse, LaterDocumentsOverrideKeyByKey) {
  // A drop-in redefines a component: keys it sets win, the others stay; the
  // origin stays where the component was first defined. Sections merge too.
  auto c = parse({{"/main.toml",
                   "[repository]\npath = \"/a\"\ncompression = \"zstd:5\"\n"
                   "[retention]\nkeep_last = 3\nkeep_within = \"1d\"\n"
                   "[[check]]\nname = \"one\"\ncommand = [\"true\"]\n"
                   "[[component]]\nname = \"app\"\nadapter = \"sqlite\"\npath = \"/var/app.db\"\n"
                   "services = [\"app\"]\nhost = \"x\"\n"},
                  {"/10-drop.toml",
                   "[repository]\npath = \"/b\"\n"
                   "[retention]\nkeep_last = 7\n"
                   "[[check]]\nname = \"two\"\ncommand = [\"true\"]\n"
                   "[[component]]\nname = \"app\"\ncritical = true\nservices = [\"app\", \"web\"]\n"
                   "[[component]]\nname = \"new\"\nadapter = \"kernel\"\n"}});
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(c->files, ElementsAre("/main.toml", "/10-drop.toml"));
  EXPECT_EQ(c->repository.path, "/b");
  EXPECT_EQ(c->repository.compression_level, 5);
  EXPECT_EQ(c->sections["retention"], (nlohmann::json{{"keep_last", 7}, {"keep_within", "1d"}}));
  ASSERT_EQ(c->sections["check"].size(), 2u);
  EXPECT_EQ(c->sections["check"][1]["name"], "two");
  EXPECT_THAT(names(*c), ElementsAre("app", "new"));
  const ComponentConfig* app = c->find("app");
  EXPECT_EQ(app->adapter, "sqlite");
  EXPECT_THAT(app->paths, ElementsAre("/var/app.db"));
  EXPECT_THAT(app->services, ElementsAre("app", "web"));
  EXPECT_TRUE(app->critical);
  EXPECT_EQ(app->settings, (nlohmann::json{{"host", "x"}}));
  EXPECT_EQ(app->origin, "/main.toml:10");
  EXPECT_EQ(c->find("new")->origin, "/10-drop.toml:12");
}

TEST(WithDependents, AddsEveryTransitiveDependentInOrder) {
  auto c = parse_one(R"(
[[component]]
name = "etc"
paths = ["/etc"]
[[component]]
name = "db"
adapter = "sqlite"
path = "/var/db.sqlite"
depends_on = ["etc"]
[[component]]
name = "app"
adapter = "command"
depends_on = ["db"]
[[component]]
name = "kernel"
adapter = "kernel"
)");
  ASSERT_THAT(c, IsOk());
  auto all = with_dependents(*c, {"etc"});
  ASSERT_THAT(all, IsOk());
  EXPECT_THAT(*all, ElementsAre("etc", "db", "app"));
  auto some = with_dependents(*c, {"app", "db"});
  ASSERT_THAT(some, IsOk());
  EXPECT_THAT(*some, ElementsAre("db", "app"));
  auto alone = with_dependents(*c, {"kernel"});
  ASSERT_THAT(alone, IsOk());
  EXPECT_THAT(*alone, ElementsAre("kernel"));
  auto none = with_dependents(*c, {"etcc"});
  EXPECT_THAT(none, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(none), HasSubstr("unknown component \"etcc\""));
}

TEST(ParseDuration, AcceptsSystemdTimeSpans) {
  struct Case {
    const char* text;
    std::chrono::nanoseconds want;
  };
  const std::vector<Case> cases = {
      {"30s", 30s},       {"5min", 5min},        {"24h", 24h},
      {"7d", 7 * 24h},    {"2w", 14 * 24h},      {"1y", 31'557'600s},
      {"1M", 2'629'800s}, {"1h 30min", 90min},   {"1h30min", 90min},
      {"500ms", 500ms},   {"2 weeks", 14 * 24h}, {"90", 90s},
      {" 10 sec ", 10s},  {"1.5h", 90min},       {"0.25s", 250ms},
      {"3us", 3us},       {"7ns", 7ns},          {"1 minute 1 second", 61s},
      {"0", 0s},
  };
  for (const Case& c : cases) {
    auto d = parse_duration(c.text);
    ASSERT_THAT(d, IsOk()) << c.text;
    EXPECT_EQ(d->count(), c.want.count()) << c.text;
  }
}

TEST(ParseDuration, RefusesJunk) {
  for (const char* bad : {"", "   ", "soon", "5 parsecs", "-5s", "s", "5m30x", ".", "1.5.5",
                          "99999999999999999999s", "300y", "1h,30min"}) {
    auto d = parse_duration(bad);
    EXPECT_THAT(d, HasError(ErrorCode::kUsage)) << bad;
  }
  EXPECT_THAT(error_of(parse_duration("5 parsecs")), HasSubstr("unknown unit \"parsecs\""));
}

TEST(ComponentName, MatchesLowercasePattern) {
  for (const char* good : {"etc", "a", "0", "app-db", "pg_14", "my.app", "9lives"})
    EXPECT_TRUE(valid_component_name(good)) << good;
  for (const char* bad :
       {"", "Etc", "-x", "_x", ".x", "/etc", "a b", "a/b", "caf\xc3\xa9", "a\tb", "ab:c"})
    EXPECT_FALSE(valid_component_name(bad)) << bad;
  EXPECT_TRUE(valid_component_name(std::string(255, 'a')));
  EXPECT_FALSE(valid_component_name(std::string(256, 'a')));
}

// load() reads real files under a temporary system root.
class ConfigLoad : public ::testing::Test {
 protected:
  TempDir root_{"rewind-config"};
  std::string etc() const { return root_.path() + "/etc/rewind"; }
};

TEST_F(ConfigLoad, NothingExistsGivesNullopt) {
  // No rewind.toml and no conf.d: no configuration, and that is no error.
  auto c = load(io::default_fs(), root_.path(), std::nullopt);
  ASSERT_THAT(c, IsOk());
  EXPECT_FALSE(c->has_value());
  // An empty conf.d does not change that.
  write_file(etc() + "/conf.d/README", "not toml\n");
  auto again = load(io::default_fs(), root_.path() + "/", std::nullopt);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->has_value());
}

TEST_F(ConfigLoad, ReadsMainFileThenDropInsInLexicalOrder) {
  // conf.d/*.toml in byte order after rewind.toml, later ones overriding;
  // hidden files, other suffixes and directories are skipped.
  write_file(etc() + "/rewind.toml",
             "[repository]\npath = \"/var/lib/rewind\"\n"
             "[[component]]\nname = \"etc\"\npaths = [\"/etc\"]\n");
  write_file(etc() + "/conf.d/20-last.toml", "[repository]\npath = \"/srv/twenty\"\n");
  write_file(etc() + "/conf.d/10-first.toml",
             "[repository]\npath = \"/srv/ten\"\n"
             "[[component]]\nname = \"etc\"\nexclude = [\"/etc/mtab\"]\n");
  write_file(etc() + "/conf.d/.30-hidden.toml", "garbage = [\n");
  write_file(etc() + "/conf.d/40-notes.txt", "garbage = [\n");
  write_file(etc() + "/conf.d/50-dir.toml/x", "garbage = [\n");
  auto c = load(io::default_fs(), root_.path(), std::nullopt);
  ASSERT_THAT(c, IsOk());
  ASSERT_TRUE(c->has_value());
  const Config& cfg = **c;
  EXPECT_THAT(cfg.files, ElementsAre(etc() + "/rewind.toml", etc() + "/conf.d/10-first.toml",
                                     etc() + "/conf.d/20-last.toml"));
  EXPECT_EQ(cfg.repository.path, "/srv/twenty");
  ASSERT_NE(cfg.find("etc"), nullptr);
  EXPECT_THAT(cfg.find("etc")->paths, ElementsAre("/etc"));
  EXPECT_THAT(cfg.find("etc")->exclude, ElementsAre("/etc/mtab"));
  EXPECT_EQ(cfg.find("etc")->origin, etc() + "/rewind.toml:3");
}

TEST_F(ConfigLoad, DropInsAloneAreAConfiguration) {
  // With the default location, conf.d counts even without rewind.toml.
  write_file(etc() + "/conf.d/app.toml", "[[component]]\nname = \"k\"\nadapter = \"kernel\"\n");
  auto c = load(io::default_fs(), root_.path(), std::nullopt);
  ASSERT_THAT(c, IsOk());
  ASSERT_TRUE(c->has_value());
  EXPECT_THAT((*c)->files, ElementsAre(etc() + "/conf.d/app.toml"));
  EXPECT_THAT(names(**c), ElementsAre("k"));
}

TEST_F(ConfigLoad, NamedFileMustExist) {
  // --config names a file: missing is kNotFound, even with a default
  // configuration present.
  write_file(etc() + "/rewind.toml", "[repository]\npath = \"/x\"\n");
  auto c = load(io::default_fs(), root_.path(), root_.path() + "/nope.toml");
  EXPECT_THAT(c, HasError(ErrorCode::kNotFound));
  EXPECT_THAT(error_of(c), HasSubstr(root_.path() + "/nope.toml"));
}

TEST_F(ConfigLoad, NamedFileReadsItsOwnDropIns) {
  // --config elsewhere: its directory's conf.d, not the system root's.
  write_file(etc() + "/conf.d/root.toml", "[repository]\npath = \"/from-root\"\n");
  const std::string other = root_.path() + "/other";
  write_file(other + "/my.toml", "[repository]\npath = \"/mine\"\n");
  write_file(other + "/conf.d/1.toml", "[repository]\ncompression = \"zstd:9\"\n");
  auto c = load(io::default_fs(), root_.path(), other + "/my.toml");
  ASSERT_THAT(c, IsOk());
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->repository.path, "/mine");
  EXPECT_EQ((*c)->repository.compression_level, 9);
  EXPECT_THAT((*c)->files, ElementsAre(other + "/my.toml", other + "/conf.d/1.toml"));
}

TEST_F(ConfigLoad, ErrorsNameTheFileTheyAreIn) {
  // A mistake in a drop-in is reported with the drop-in's path and line.
  write_file(etc() + "/rewind.toml", "[[component]]\nname = \"etc\"\npaths = [\"/etc\"]\n");
  write_file(etc() + "/conf.d/bad.toml", "\n[[component]]\nname = \"etc\"\nexclud = []\n");
  auto c = load(io::default_fs(), root_.path(), std::nullopt);
  EXPECT_THAT(c, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(c),
              HasSubstr(etc() + "/conf.d/bad.toml:4: component \"etc\": unknown key \"exclud\""));
  write_file(etc() + "/conf.d/bad.toml", "[[component]\n");
  auto syntax = load(io::default_fs(), root_.path(), std::nullopt);
  EXPECT_THAT(syntax, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(syntax), HasSubstr(etc() + "/conf.d/bad.toml:1:"));
}

}  // namespace
}  // namespace rwd::config
