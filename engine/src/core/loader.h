// Reads and fully validates a model file (FORMAT.md). Every read is
// bounds-checked and every structural rule is checked before use, so a
// truncated, corrupted or hostile file fails with a slim::Error naming the
// field, never a crash, a hang or an allocation the file size cannot justify.
#pragma once

#include <cstddef>
#include <string>

#include "core/model.h"

namespace slim {

Model load_model_file(const std::string& path);          // mmap, falling back to read()
Model load_model_bytes(const void* data, size_t size);   // copies into an aligned buffer

uint32_t crc32(const void* data, size_t size);  // IEEE 802.3 / zlib

}  // namespace slim
