// SPDX-License-Identifier: Apache-2.0
#include "store/codec.h"

#include <zstd.h>

#include <cstring>

namespace rwd::store {

Compressor::Compressor(int level) : cctx_(ZSTD_createCCtx()), level_(level) {
  ZSTD_CCtx_setParameter(static_cast<ZSTD_CCtx*>(cctx_), ZSTD_c_compressionLevel, level_);
  ZSTD_CCtx_setParameter(static_cast<ZSTD_CCtx*>(cctx_), ZSTD_c_checksumFlag, 0);
}
Compressor::~Compressor() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

ChunkCodec Compressor::compress(std::span<const std::byte> in, std::vector<std::byte>& out) {
  out.clear();
  if (level_ <= 0 || in.size() < 64) return ChunkCodec::kRaw;
  // Only accept output that saves at least 1/32: anything else is stored raw
  // and costs no decompression on restore.
  size_t budget = in.size() - in.size() / 32;
  out.resize(ZSTD_compressBound(in.size()));
  size_t n =
      ZSTD_compress2(static_cast<ZSTD_CCtx*>(cctx_), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n >= budget) {
    out.clear();
    return ChunkCodec::kRaw;
  }
  out.resize(n);
  return ChunkCodec::kZstd;
}

Decompressor::Decompressor() : dctx_(ZSTD_createDCtx()) {}
Decompressor::~Decompressor() { ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_)); }

Status Decompressor::decompress(ChunkCodec codec, std::span<const std::byte> in, size_t raw_len,
                                std::vector<std::byte>& out) {
  if (raw_len > kMaxChunkSize)
    return fail(Error::corrupted_data("chunk declares {} bytes, more than the limit", raw_len));
  out.resize(raw_len);
  if (codec == ChunkCodec::kRaw) {
    if (in.size() != raw_len)
      return fail(
          Error::corrupted_data("raw chunk has {} bytes, header says {}", in.size(), raw_len));
    if (raw_len > 0) std::memcpy(out.data(), in.data(), raw_len);
    return ok();
  }
  if (codec != ChunkCodec::kZstd)
    return fail(Error::corrupted_data("unknown chunk codec {}", static_cast<int>(codec)));
  unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != raw_len)
    return fail(Error::corrupted_data("compressed chunk declares {} bytes, header says {}",
                                      declared, raw_len));
  // The output buffer is exactly raw_len: zstd stops with an error rather
  // than writing past it.
  size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_), out.data(), out.size(), in.data(),
                                 in.size());
  if (ZSTD_isError(n))
    return fail(Error::corrupted_data("chunk does not decompress: {}", ZSTD_getErrorName(n)));
  if (n != raw_len)
    return fail(
        Error::corrupted_data("chunk decompresses to {} bytes, header says {}", n, raw_len));
  return ok();
}

}  // namespace rwd::store
