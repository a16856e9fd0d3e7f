// SPDX-License-Identifier: Apache-2.0
// A real, throwaway PostgreSQL 15 cluster for tests: initdb and pg_ctl from
// Debian's postgresql package, run as the `postgres` user, on 127.0.0.1 and
// a free port (never 5432, the host's own), with a socket directory of its
// own, fsync off, and WAL archiving on (archive_command `true`: nothing is
// kept) so that captures record a restore point. A test binary that
// includes this registers the cluster once:
//   const auto* const kCluster = ::testing::AddGlobalTestEnvironment(new Cluster);
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "integration/integration_helpers.h"

namespace rwd::itest {

inline const std::string kBin = "/usr/lib/postgresql/15/bin";

// A free TCP port on loopback (bound to 0, then released), never 5432.
inline int free_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    if (port > 0 && port != 5432) return port;
  }
  return -1;
}

// The cluster, shared by every test of this binary.
class Cluster : public ::testing::Environment {
 public:
  static inline std::string dir, sock;
  static inline int port = -1;

  void SetUp() override {
    // A skip would hide a broken CI image: PostgreSQL is a requirement.
    ASSERT_TRUE(std::filesystem::exists(kBin + "/initdb"))
        << kBin << "/initdb is missing: install postgresql-15 (scripts/setup.sh)";
    // Under /tmp (0755 parents) so that the postgres user reaches it.
    char tmpl[] = "/tmp/rewind-pg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    sock = dir + "/run";
    port = free_port();
    ASSERT_GT(port, 0);
    std::filesystem::create_directories(dir + "/data");
    std::filesystem::create_directories(sock);
    RunResult r = sh("chmod 0755 " + dir + " && chown -R postgres:postgres " + dir +
                     " && chmod 0700 " + dir + "/data");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    r = rwd::testing::run({"runuser", "-u", "postgres", "--", kBin + "/initdb", "-D", dir + "/data",
                           "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8",
                           "--no-sync"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    r = rwd::testing::run({"runuser", "-u", "postgres", "--", kBin + "/pg_ctl", "-D", dir + "/data",
                           "-l", dir + "/server.log", "-w", "-t", "60", "-o",
                           "-c listen_addresses=127.0.0.1 -c port=" + std::to_string(port) +
                               " -c unix_socket_directories=" + sock +
                               " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                               " -c wal_level=replica -c archive_mode=on -c archive_command=true",
                           "start"});
    ASSERT_EQ(r.exit_code, 0) << describe(r) << rwd::testing::read_file(dir + "/server.log");
    // A watchdog stops the cluster should this binary die without tearing
    // down (a signal, a crash): no server outlives its test run.
    r = sh("setsid sh -c 'while kill -0 " + std::to_string(::getpid()) +
           " 2>/dev/null; do sleep 1; done; [ -d " + dir + "/data ] && runuser -u postgres -- " +
           kBin + "/pg_ctl -D " + dir + "/data -m immediate stop; rm -rf " + dir +
           "' </dev/null >/dev/null 2>&1 &");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  void TearDown() override { stop(); }

  static void stop() {
    if (dir.empty()) return;
    if (std::filesystem::exists(dir + "/data/postmaster.pid"))
      rwd::testing::run({"runuser", "-u", "postgres", "--", kBin + "/pg_ctl", "-D", dir + "/data",
                         "-m", "immediate", "-w", "-t", "60", "stop"});
    std::filesystem::remove_all(dir);
    dir.clear();
  }
};

// psql as the postgres user over the test cluster's socket.
inline RunResult psql(const std::string& db, const std::string& sql) {
  return rwd::testing::run({kBin + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            Cluster::sock, "-p", std::to_string(Cluster::port), "-U", "postgres",
                            "-d", db, "-c", sql});
}

inline std::string psql_ok(const std::string& db, const std::string& sql) {
  RunResult r = psql(db, sql);
  EXPECT_EQ(r.exit_code, 0) << sql << "\n" << describe(r);
  return r.out;
}

// pg_dump -s, without the random \restrict lines of PostgreSQL >= 15.14.
inline std::string schema_of(const std::string& db) {
  RunResult r = rwd::testing::run({kBin + "/pg_dump", "-s", "-h", Cluster::sock, "-p",
                                   std::to_string(Cluster::port), "-U", "postgres", "-d", db});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  std::istringstream in(r.out);
  std::string out;
  for (std::string line; std::getline(in, line);)
    if (!line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict ")) out += line + "\n";
  return out;
}

// Every table's rows, in order of the first column, as COPY text.
inline std::string contents_of(const std::string& db) {
  std::string out;
  std::istringstream tables(psql_ok(
      db,
      "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN "
      "('pg_catalog', 'information_schema') ORDER BY 1"));
  for (std::string t; std::getline(tables, t);)
    out += "== " + t + "\n" + psql_ok(db, "COPY (SELECT * FROM " + t + " ORDER BY 1) TO STDOUT");
  return out;
}

}  // namespace rwd::itest
