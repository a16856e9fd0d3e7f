// SPDX-License-Identifier: Apache-2.0
// Writes the seed corpora of the fuzz targets with rewind's own encoders, so
// that every seed is a valid input the fuzzer mutates from:
//   fuzz_make_corpus DIR          writes DIR/fuzz_manifest/* and DIR/fuzz_pack_index/*
//   fuzz_make_corpus --check DIR  checks that every seed there still decodes
//                                 (fails when a format change made them stale)
// The generated files are checked in under tests/fuzz/corpus/.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "io/fs.h"
#include "store/codec.h"
#include "store/hash.h"
#include "store/manifest.h"
#include "store/pack.h"

namespace {

using namespace rwd::store;
namespace fs = std::filesystem;

std::vector<std::byte> bytes_of(const std::string& s) {
  auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

// Deterministic filler (xorshift), incompressible unless `runs`.
std::vector<std::byte> filler(size_t n, uint64_t seed, bool runs = false) {
  std::vector<std::byte> out(n);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<std::byte>(runs ? "rewind"[(i / 64) % 6] : static_cast<char>(x));
  }
  return out;
}

ChunkRef ref_of(std::span<const std::byte> data) {
  return {chunk_id(static_cast<uint8_t>(ChunkType::kData), data),
          static_cast<uint32_t>(data.size())};
}

Entry dir(const std::string& path, uint32_t mode = 0755) {
  Entry e;
  e.path = path;
  e.type = EntryType::kDir;
  e.mode = mode;
  e.mtime_ns = 1700000000123456789;
  return e;
}

Entry file(const std::string& path, std::span<const std::byte> data) {
  Entry e;
  e.path = path;
  e.type = EntryType::kFile;
  e.mode = 0644;
  e.uid = 1000;
  e.gid = 1000;
  e.mtime_ns = 1700000001000000000;
  e.size = data.size();
  if (!data.empty()) e.chunks.push_back(ref_of(data));
  e.dev = 2049;
  e.ino = 4242;
  e.ctime_ns = 1700000001000000001;
  return e;
}

// A tree with one entry of every type and most fields set.
std::vector<Entry> every_type() {
  std::vector<Entry> t;
  t.push_back(dir(""));
  t.push_back(dir("etc"));
  Entry conf = file("etc/app.conf", bytes_of("key = value\n"));
  conf.xattrs = {{"user.origin", "seed"}, {"security.capability", std::string("\x01\0\0\x02", 4)}};
  t.push_back(conf);
  Entry hard;
  hard.path = "etc/app.conf.bak";
  hard.type = EntryType::kHardlink;
  hard.link_index = 2;
  t.push_back(hard);
  Entry link;
  link.path = "etc/current";
  link.type = EntryType::kSymlink;
  link.mode = 0777;
  link.target = "app.conf";
  t.push_back(link);
  Entry fifo;
  fifo.path = "etc/fifo";
  fifo.type = EntryType::kFifo;
  fifo.mode = 0600;
  t.push_back(fifo);
  Entry null;
  null.path = "etc/null";
  null.type = EntryType::kCharDev;
  null.mode = 0666;
  null.rdev = 0x103;
  t.push_back(null);
  Entry disk;
  disk.path = "etc/sda";
  disk.type = EntryType::kBlockDev;
  disk.mode = 0660;
  disk.gid = 6;
  disk.rdev = 0x800;
  t.push_back(disk);
  t.push_back(dir("var", 01777));
  Entry sparse = file("var/sparse.img", {});
  sparse.size = 1 << 20;
  sparse.sparse = true;
  std::vector<std::byte> a = filler(300, 1), b = filler(200, 2);
  sparse.extents = {{0, 300}, {65536, 200}};
  sparse.chunks = {ref_of(a), ref_of(b)};
  sparse.flags = 0x10;  // FS_IMMUTABLE_FL
  t.push_back(sparse);
  Entry torn = file("var/torn.log", filler(100, 3));
  torn.torn = true;
  t.push_back(torn);
  t.push_back(file("var/zero", {}));
  return t;
}

std::vector<std::byte> with_count(uint32_t count, std::span<const std::byte> body) {
  std::vector<std::byte> out;
  out.reserve(4 + body.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(count >> (8 * i)));
  for (std::byte b : body) out.push_back(b);
  return out;
}

bool write_out(const fs::path& p, std::span<const std::byte> b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  f.close();
  if (!f) std::fprintf(stderr, "make_corpus: cannot write %s\n", p.c_str());
  return static_cast<bool>(f);
}

std::vector<std::byte> read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> c{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  auto* b = reinterpret_cast<const std::byte*>(c.data());
  return {b, b + c.size()};
}

// Manifest seeds: [u32 count][page] and [u32 0][root].
std::map<std::string, std::vector<std::byte>> manifest_seeds() {
  std::map<std::string, std::vector<std::byte>> seeds;
  std::vector<Entry> tree = every_type();
  seeds["page-every-type"] = with_count(static_cast<uint32_t>(tree.size()), encode_page(tree));
  std::vector<Entry> one{file("", bytes_of("a single file as the component"))};
  seeds["page-single-file"] = with_count(1, encode_page(one));
  // A manifest of three pages built the way capture builds it.
  std::vector<std::vector<std::byte>> pages;
  std::vector<std::byte> root_bytes;
  std::vector<uint64_t> counts;
  ManifestBuilder mb([&](ChunkType type, std::vector<std::byte>&& b) -> rwd::Result<ChunkId> {
    ChunkId id = chunk_id(static_cast<uint8_t>(type), b);
    (type == ChunkType::kManifestRoot ? root_bytes : pages.emplace_back()) = std::move(b);
    return id;
  });
  bool ok = static_cast<bool>(mb.add(dir("")));
  for (int d = 0; d < 3 && ok; ++d) {
    ok = static_cast<bool>(mb.add(dir("d" + std::to_string(d))));
    for (int i = 0; i < 60 && ok; ++i)
      ok = static_cast<bool>(mb.add(
          file("d" + std::to_string(d) + "/file-with-a-longer-name-" + std::to_string(100 + i),
               filler(static_cast<size_t>(1 + i), static_cast<uint64_t>(d * 100 + i)))));
  }
  auto root_id = ok ? mb.finish() : rwd::Result<ChunkId>(rwd::fail(rwd::Error::invalid_state("")));
  if (!root_id) {
    std::fprintf(stderr, "make_corpus: ManifestBuilder failed\n");
    std::exit(1);
  }
  auto root = decode_root(root_bytes);
  if (!root || root->pages.size() != pages.size() || pages.size() < 2) {
    std::fprintf(stderr, "make_corpus: expected a manifest of several pages\n");
    std::exit(1);
  }
  for (size_t i = 0; i < pages.size() && i < 2; ++i)
    seeds["page-built-" + std::to_string(i)] =
        with_count(static_cast<uint32_t>(root->pages[i].count), pages[i]);
  seeds["root-built"] = with_count(0, root_bytes);
  ManifestRoot small;
  small.entries = tree.size();
  small.bytes = 1 << 20;
  small.pages.push_back({"", 0, tree.size(), chunk_id(2, encode_page(tree))});
  seeds["root-one-page"] = with_count(0, encode_root(small));
  return seeds;
}

// Pack seeds, written by PackWriter into a scratch directory.
std::map<std::string, std::vector<std::byte>> pack_seeds(const fs::path& scratch) {
  std::map<std::string, std::vector<std::byte>> seeds;
  rwd::io::Fs& fsys = rwd::io::posix_fs();
  auto make = [&](const std::string& name, auto&& fill) {
    fs::remove_all(scratch);
    fs::create_directories(scratch);
    auto dirfd = fsys.open_path(scratch.string(), O_RDONLY | O_DIRECTORY);
    if (!dirfd) std::exit(1);
    auto w = PackWriter::create(fsys, dirfd->get());
    if (!w) std::exit(1);
    fill(*w);
    auto packname = w->finish();
    if (!packname) {
      std::fprintf(stderr, "make_corpus: %s\n", packname.error().message().c_str());
      std::exit(1);
    }
    seeds[name] = read_all(scratch / (*packname + ".pack"));
  };
  Compressor comp(3);
  auto add = [&](PackWriter& w, ChunkType type, std::span<const std::byte> raw) {
    std::vector<std::byte> z;
    ChunkCodec codec = comp.compress(raw, z);
    std::span<const std::byte> stored = codec == ChunkCodec::kRaw ? raw : std::span(z);
    if (!w.add(chunk_id(static_cast<uint8_t>(type), raw), type, codec,
               static_cast<uint32_t>(raw.size()), stored))
      std::exit(1);
  };
  make("pack-empty", [](PackWriter&) {});
  make("pack-raw-chunk", [&](PackWriter& w) { add(w, ChunkType::kData, filler(2000, 7)); });
  make("pack-zstd-chunk", [&](PackWriter& w) { add(w, ChunkType::kData, filler(3000, 8, true)); });
  make("pack-every-type", [&](PackWriter& w) {
    std::vector<Entry> tree = every_type();
    std::vector<std::byte> page = encode_page(tree);
    ManifestRoot root;
    root.entries = tree.size();
    root.pages.push_back({"", 0, tree.size(), chunk_id(2, page)});
    add(w, ChunkType::kData, filler(500, 9));
    add(w, ChunkType::kData, filler(1500, 10, true));
    add(w, ChunkType::kManifestPage, page);
    add(w, ChunkType::kManifestRoot, encode_root(root));
  });
  fs::remove_all(scratch);
  return seeds;
}

int check(const fs::path& dir) {
  int bad = 0, n = 0;
  auto each = [&](const std::string& target, auto&& valid) {
    for (const auto& e : fs::directory_iterator(dir / target)) {
      if (e.path().filename().string().rfind('.', 0) == 0) continue;
      ++n;
      if (!valid(read_all(e.path()))) {
        std::fprintf(stderr, "make_corpus: %s is not a valid input\n", e.path().c_str());
        ++bad;
      }
    }
  };
  each("fuzz_manifest", [](const std::vector<std::byte>& in) {
    if (in.size() < 4) return false;
    uint32_t count = 0;
    for (int i = 0; i < 4; ++i)
      count |= static_cast<uint32_t>(in[static_cast<size_t>(i)]) << (8 * i);
    std::span<const std::byte> body = std::span(in).subspan(4);
    // A page decodes (only a first page also validates as a whole tree).
    auto page = decode_page(body, count);
    if (page && (!page->front().path.empty() || validate_entries(*page))) return true;
    return static_cast<bool>(decode_root(body));
  });
  each("fuzz_pack_index", [](const std::vector<std::byte>& in) {
    rwd::io::Fs& fsys = rwd::io::posix_fs();
    char tmpl[] = "/tmp/rewind-seed-XXXXXX";
    int raw = ::mkstemp(tmpl);
    if (raw < 0) return false;
    rwd::io::Fd fd(&fsys, raw);
    ::unlink(tmpl);
    if (!fsys.write(fd.get(), in)) return false;
    auto entries = read_pack_index(fsys, fd.get(), "seed");
    if (!entries) return false;
    Decompressor dec;
    std::vector<std::byte> scratch, out;
    for (const PackEntry& e : *entries)
      if (!read_chunk(fsys, fd.get(), "seed", e, dec, scratch, out)) return false;
    return true;
  });
  std::printf("make_corpus: %d seeds checked, %d invalid\n", n, bad);
  return bad == 0 && n > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--check") return check(argv[2]);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR | --check DIR\n", argv[0]);
    return 2;
  }
  fs::path out = argv[1];
  bool ok = true;
  for (auto& [target, seeds] :
       {std::pair{std::string("fuzz_manifest"), manifest_seeds()},
        std::pair{std::string("fuzz_pack_index"), pack_seeds(out / ".scratch")}}) {
    fs::create_directories(out / target);
    for (const auto& [name, bytes] : seeds) ok = write_out(out / target / name, bytes) && ok;
    std::printf("make_corpus: %zu seeds in %s\n", seeds.size(), (out / target).c_str());
  }
  return ok ? 0 : 1;
}
