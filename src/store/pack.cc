// SPDX-License-Identifier: Apache-2.0
#include "store/pack.h"

#include <cstring>

#include "store/crypto.h"
#include "store/encoding.h"

namespace rwd::store {

Result<PackWriter> PackWriter::create(io::Fs& fs, int packs_dirfd) {
  REWIND_ASSIGN_OR_RETURN(io::StagedFile f, io::StagedFile::create(fs, packs_dirfd, 0600));
  PackWriter w(std::move(f));
  REWIND_TRY(w.write({reinterpret_cast<const std::byte*>(kPackMagic), 8}));
  return w;
}

Status PackWriter::write(std::span<const std::byte> b) {
  hash_->update(b);
  REWIND_TRY(file_.append(b));
  size_ += b.size();
  return ok();
}

Status PackWriter::add(const ChunkId& id, ChunkType type, ChunkCodec codec, uint32_t raw_len,
                       std::span<const std::byte> stored) {
  Writer h;
  h.u32(kBlobMagic);
  h.u8(static_cast<uint8_t>(type));
  h.u8(static_cast<uint8_t>(codec));
  h.u16(0);
  h.u32(raw_len);
  h.u32(static_cast<uint32_t>(stored.size()));
  h.raw(id.bytes.data(), 32);
  PackEntry e{id, type, codec, raw_len, static_cast<uint32_t>(stored.size()), size_};
  // One write per blob: header and data together.
  h.bytes(stored);
  REWIND_TRY(write(h.buffer()));
  entries_.push_back(e);
  return ok();
}

Result<std::string> PackWriter::finish() {
  Writer idx;
  for (const PackEntry& e : entries_) {
    idx.raw(e.id.bytes.data(), 32);
    idx.u8(static_cast<uint8_t>(e.type));
    idx.u8(static_cast<uint8_t>(e.codec));
    idx.u16(0);
    idx.u32(e.raw_len);
    idx.u32(e.stored_len);
    idx.u64(e.offset);
    idx.u32(0);
  }
  ChunkId idx_hash = sha256(idx.buffer());
  Writer foot;
  foot.u32(static_cast<uint32_t>(entries_.size()));
  foot.u32(static_cast<uint32_t>(idx.size()));
  foot.raw(idx_hash.bytes.data(), 32);
  foot.raw(kPackEndMagic, 8);
  idx.bytes(foot.buffer());
  REWIND_TRY(write(idx.buffer()));
  std::string name = hash_->finish().to_hex();
  // Rule 1 (STYLE.md §5): fsync, rename, fsync the directory.
  REWIND_TRY(file_.publish(name + ".pack"));
  return name;
}

Result<std::vector<PackEntry>> read_pack_index(io::Fs& fs, int fd, std::string_view pack_name) {
  REWIND_ASSIGN_OR_RETURN(io::Stat st, fs.fstat(fd));
  if (st.size < 8 + kPackFooterSize)
    return fail(Error::corrupted_data("pack {}: too short ({} bytes)", pack_name, st.size));
  std::byte foot[kPackFooterSize];
  REWIND_ASSIGN_OR_RETURN(size_t n, fs.pread(fd, foot, st.size - kPackFooterSize));
  if (n != kPackFooterSize)
    return fail(Error::corrupted_data("pack {}: short read of footer", pack_name));
  Reader r(foot, fmt::format("pack {} footer", pack_name));
  REWIND_ASSIGN_OR_RETURN(uint32_t count, r.u32());
  REWIND_ASSIGN_OR_RETURN(uint32_t idx_len, r.u32());
  REWIND_ASSIGN_OR_RETURN(auto idx_hash_bytes, r.bytes(32));
  REWIND_ASSIGN_OR_RETURN(auto magic, r.bytes(8));
  if (std::memcmp(magic.data(), kPackEndMagic, 8) != 0)
    return fail(Error::corrupted_data("pack {}: bad trailer magic", pack_name));
  if (static_cast<uint64_t>(count) * kIndexEntrySize != idx_len ||
      idx_len > st.size - kPackFooterSize - 8)
    return fail(Error::corrupted_data("pack {}: index size {} does not match {} entries", pack_name,
                                      idx_len, count));
  uint64_t idx_off = st.size - kPackFooterSize - idx_len;
  std::vector<std::byte> idx(idx_len);
  REWIND_ASSIGN_OR_RETURN(size_t m, fs.pread(fd, idx, idx_off));
  if (m != idx_len) return fail(Error::corrupted_data("pack {}: short read of index", pack_name));
  if (!(sha256(idx) == ChunkId::from_bytes(idx_hash_bytes)))
    return fail(Error::corrupted_data("pack {}: index checksum mismatch", pack_name));
  std::vector<PackEntry> out;
  out.reserve(count);
  Reader ir(idx, fmt::format("pack {} index", pack_name));
  uint64_t expect_off = 8;
  for (uint32_t i = 0; i < count; ++i) {
    PackEntry e;
    REWIND_ASSIGN_OR_RETURN(auto idb, ir.bytes(32));
    e.id = ChunkId::from_bytes(idb);
    REWIND_ASSIGN_OR_RETURN(uint8_t type, ir.u8());
    REWIND_ASSIGN_OR_RETURN(uint8_t codec, ir.u8());
    REWIND_ASSIGN_OR_RETURN(uint16_t res, ir.u16());
    (void)res;
    REWIND_ASSIGN_OR_RETURN(e.raw_len, ir.u32());
    REWIND_ASSIGN_OR_RETURN(e.stored_len, ir.u32());
    REWIND_ASSIGN_OR_RETURN(e.offset, ir.u64());
    REWIND_ASSIGN_OR_RETURN(uint32_t res2, ir.u32());
    (void)res2;
    if (type < 1 || type > 3 || codec > 1)
      return fail(
          Error::corrupted_data("pack {}: entry {} has unknown type or codec", pack_name, i));
    e.type = static_cast<ChunkType>(type);
    e.codec = static_cast<ChunkCodec>(codec);
    if (e.offset != expect_off || e.raw_len > kMaxChunkSize || e.stored_len > kMaxChunkSize)
      return fail(Error::corrupted_data("pack {}: entry {} is out of place", pack_name, i));
    expect_off = e.offset + kBlobHeaderSize + e.stored_len;
    if (expect_off > idx_off)
      return fail(Error::corrupted_data("pack {}: entry {} runs past the data", pack_name, i));
    out.push_back(e);
  }
  if (expect_off != idx_off)
    return fail(Error::corrupted_data("pack {}: index does not cover the data", pack_name));
  return out;
}

Status read_chunk(io::Fs& fs, int fd, std::string_view pack_name, const PackEntry& e,
                  Decompressor& dec, std::vector<std::byte>& scratch, std::vector<std::byte>& out,
                  const RepoKeys* keys) {
  auto corrupt = [&](std::string_view why) {
    return fail(Error::corrupted_data("pack {} chunk {}: {}", pack_name, e.id.to_hex(), why));
  };
  if (e.stored_len > kMaxChunkSize || e.raw_len > kMaxChunkSize)
    return corrupt("size exceeds the limit");
  scratch.resize(kBlobHeaderSize + e.stored_len);
  REWIND_ASSIGN_OR_RETURN(size_t n, fs.pread(fd, scratch, e.offset));
  if (n != scratch.size()) return corrupt("pack is truncated");
  Reader r(scratch, "blob header");
  auto magic = r.u32();
  auto type = r.u8();
  auto codec = r.u8();
  (void)r.u16();
  auto raw_len = r.u32();
  auto stored_len = r.u32();
  auto idb = r.bytes(32);
  if (!magic || *magic != kBlobMagic) return corrupt("bad blob magic");
  if (!type || *type != static_cast<uint8_t>(e.type) || !codec ||
      *codec != static_cast<uint8_t>(e.codec) || !raw_len || *raw_len != e.raw_len || !stored_len ||
      *stored_len != e.stored_len || !idb || !(ChunkId::from_bytes(*idb) == e.id))
    return corrupt("blob header does not match the index");
  std::span<const std::byte> payload(scratch.data() + kBlobHeaderSize, e.stored_len);
  thread_local std::vector<std::byte> opened;
  if (keys) {
    if (Status st = keys->open_chunk(e.id, static_cast<uint8_t>(e.type), payload, opened); !st)
      return corrupt(st.error().message());
    payload = opened;
  }
  if (Status st = dec.decompress(e.codec, payload, e.raw_len, out); !st)
    return corrupt(st.error().message());
  ChunkId id = keys ? keys->chunk_id(static_cast<uint8_t>(e.type), out)
                    : chunk_id(static_cast<uint8_t>(e.type), out);
  if (!(id == e.id)) return corrupt("content does not match its hash");
  return ok();
}

}  // namespace rwd::store
