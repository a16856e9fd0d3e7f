// SPDX-License-Identifier: Apache-2.0
#include "components/state.h"

#include "store/chunker.h"

namespace rwd::components::state {

namespace {

store::ChunkSource source(store::Repository& repo) {
  return [&repo](const store::ChunkId& id, store::ChunkType t, std::vector<std::byte>& out) {
    return repo.read_chunk(id, t, out);
  };
}

Status check_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.back() == '/' ||
      name.find('\0') != std::string::npos || name.find("//") != std::string::npos)
    return fail(Error::invalid_state("state blob name '{}' is not a relative path", name));
  for (size_t b = 0; b <= name.size();) {
    size_t e = name.find('/', b);
    if (e == std::string::npos) e = name.size();
    std::string_view part(name.data() + b, e - b);
    if (part == "." || part == "..")
      return fail(Error::invalid_state("state blob name '{}' is not a relative path", name));
    b = e + 1;
  }
  return ok();
}

}  // namespace

Status Writer::add_entry(store::Entry e) {
  // The directories on the way.
  for (size_t slash = e.path.find('/'); slash != std::string::npos;
       slash = e.path.find('/', slash + 1)) {
    std::string dir = e.path.substr(0, slash);
    if (entries_.contains(dir)) continue;
    store::Entry d;
    d.path = dir;
    d.type = store::EntryType::kDir;
    d.mode = 0700;
    entries_.emplace(dir, std::move(d));
  }
  if (entries_.contains(e.path))
    return fail(Error::invalid_state("state blob '{}' is added twice", e.path));
  std::string key = e.path;
  entries_.emplace(std::move(key), std::move(e));
  return ok();
}

Status Writer::add(const std::string& name, std::string_view data, uint32_t mode) {
  REWIND_TRY(check_name(name));
  store::Entry e;
  e.path = name;
  e.type = store::EntryType::kFile;
  e.mode = mode & 07777;
  e.size = data.size();
  store::Chunker chunker(ctx_.repo.config().chunker);
  auto bytes = std::as_bytes(std::span(data.data(), data.size()));
  while (!bytes.empty()) {
    size_t n = chunker.next_cut(bytes, true);
    std::vector<std::byte> chunk(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    REWIND_ASSIGN_OR_RETURN(store::ChunkId id,
                            writer_.put(store::ChunkType::kData, std::move(chunk)));
    e.chunks.push_back(store::ChunkRef{id, static_cast<uint32_t>(n)});
    bytes = bytes.subspan(n);
  }
  size_ += data.size();
  bytes_read_ += data.size();
  return add_entry(std::move(e));
}

Status Writer::add_fd(const std::string& name, int fd, uint64_t fixed_chunk, uint32_t mode) {
  REWIND_TRY(check_name(name));
  store::Entry e;
  e.path = name;
  e.type = store::EntryType::kFile;
  e.mode = mode & 07777;
  store::Chunker chunker(ctx_.repo.config().chunker);
  const size_t max = fixed_chunk > 0 ? static_cast<size_t>(fixed_chunk) : chunker.params().max_size;
  std::vector<std::byte> buf;
  bool eof = false;
  auto put = [&](size_t n) -> Status {
    std::vector<std::byte> chunk(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    REWIND_ASSIGN_OR_RETURN(store::ChunkId id,
                            writer_.put(store::ChunkType::kData, std::move(chunk)));
    e.chunks.push_back(store::ChunkRef{id, static_cast<uint32_t>(n)});
    e.size += n;
    return ok();
  };
  while (!eof || !buf.empty()) {
    while (!eof && buf.size() < max) {
      size_t old = buf.size();
      buf.resize(max);
      auto r = ctx_.fs.read(fd, {buf.data() + old, max - old});
      if (!r) {
        buf.resize(old);
        return fail(r.error().with_context(fmt::format("reading {}", name)));
      }
      buf.resize(old + *r);
      if (*r == 0) eof = true;
    }
    if (buf.empty()) break;
    size_t n = fixed_chunk > 0 ? std::min(buf.size(), max) : chunker.next_cut(buf, eof);
    if (n == 0) n = buf.size();
    REWIND_TRY(put(n));
  }
  size_ += e.size;
  bytes_read_ += e.size;
  return add_entry(std::move(e));
}

Result<Captured> Writer::finish() {
  // A manifest starts with its root, a directory (store::validate_entries).
  if (!entries_.contains("")) {
    store::Entry root;
    root.type = store::EntryType::kDir;
    root.mode = 0700;
    entries_.emplace("", std::move(root));
  }
  store::ManifestBuilder mb(
      [this](store::ChunkType t, std::vector<std::byte>&& data) -> Result<store::ChunkId> {
        return writer_.put(t, std::move(data));
      });
  // A manifest starts with its root directory ("").
  if (!entries_.contains("")) {
    store::Entry root;
    root.type = store::EntryType::kDir;
    root.mode = 0700;
    entries_.emplace("", std::move(root));
  }
  std::map<store::ChunkId, uint32_t> distinct;
  for (const auto& [name, e] : entries_) {
    REWIND_TRY(mb.add(e));
    for (const auto& c : e.chunks) distinct.emplace(c.id, 0);
  }
  REWIND_ASSIGN_OR_RETURN(store::ChunkId root, mb.finish());
  REWIND_TRY(writer_.flush());
  Captured c;
  c.manifest = root;
  c.entries = entries_.size();
  c.size = size_;
  for (const auto& [id, _] : distinct) c.stored += writer_.stored_size(id);
  c.files_read = entries_.size();
  c.bytes_read = bytes_read_;
  return c;
}

Reader::Reader(Context& ctx, std::vector<store::Entry> entries)
    : ctx_(&ctx), entries_(std::move(entries)) {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].type == store::EntryType::kFile) index_.emplace(entries_[i].path, i);
}

Result<Reader> Reader::open(Context& ctx, const store::ChunkId& manifest) {
  REWIND_TRY(ctx.repo.load_index());
  REWIND_ASSIGN_OR_RETURN(auto entries, store::load_manifest(source(ctx.repo), manifest));
  return Reader(ctx, std::move(entries));
}

std::vector<std::string> Reader::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_)
    if (e.type == store::EntryType::kFile) out.push_back(e.path);
  return out;
}

Result<std::string> Reader::read(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return fail(Error::not_found("the snapshot holds no '{}'", name));
  const store::Entry& e = entries_[it->second];
  std::string out;
  out.reserve(e.size);
  std::vector<std::byte> buf;
  for (const auto& c : e.chunks) {
    REWIND_TRY(ctx_->repo.read_chunk(c.id, store::ChunkType::kData, buf));
    out.append(reinterpret_cast<const char*>(buf.data()), buf.size());
  }
  if (out.size() != e.size)
    return fail(
        Error::corrupted_data("'{}': {} bytes stored, {} recorded", name, out.size(), e.size));
  return out;
}

Status Reader::copy_to(const std::string& name, int fd) const {
  auto it = index_.find(name);
  if (it == index_.end()) return fail(Error::not_found("the snapshot holds no '{}'", name));
  std::vector<std::byte> buf;
  for (const auto& c : entries_[it->second].chunks) {
    REWIND_TRY(ctx_->repo.read_chunk(c.id, store::ChunkType::kData, buf));
    REWIND_TRY(ctx_->fs.write(fd, buf));
  }
  return ok();
}

Status Reader::validate() const {
  std::vector<std::byte> buf;
  for (const auto& e : entries_) {
    for (const auto& c : e.chunks) {
      Status st = ctx_->repo.read_chunk(c.id, store::ChunkType::kData, buf);
      if (!st)
        return fail(
            Error::corrupted_data("'{}' cannot be restored: {}", e.path, st.error().message()));
    }
  }
  return ok();
}

std::map<std::string, std::string> parse_lines(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string_view::npos) e = text.size();
    std::string_view line = text.substr(b, e - b);
    b = e + 1;
    if (line.empty() || line.front() == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    out[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return out;
}

std::string format_lines(const std::map<std::string, std::string>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) out += k + "=" + v + "\n";
  return out;
}

}  // namespace rwd::components::state
