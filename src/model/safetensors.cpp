#include "model/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace tandem::model {

int64_t SafeTensor::nelements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  MappedFile f = MappedFile::open(path);
  SafetensorsFile s = parse(f.bytes(), path);
  s.file_ = std::move(f);
  return s;
}

SafetensorsFile SafetensorsFile::parse(std::span<const std::byte> bytes, const std::string& name) {
  SafetensorsFile s;
  s.name_ = name;
  if (bytes.size() < 8) throw_input("{}: {} bytes: too short for a safetensors header", name, bytes.size());
  uint64_t hlen = 0;
  std::memcpy(&hlen, bytes.data(), 8);  // little-endian hosts only (x86-64)
  if (hlen > bytes.size() - 8 || hlen > (uint64_t{100} << 20))
    throw_input("{}: header of {} bytes does not fit the {}-byte file", name, hlen, bytes.size());
  const auto* h = reinterpret_cast<const char*>(bytes.data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(h, h + hlen);
  } catch (const nlohmann::json::exception& e) {
    throw_input("{}: header is not valid JSON: {}", name, e.what());
  }
  if (!header.is_object()) throw_input("{}: header is not a JSON object", name);
  const std::span<const std::byte> data = bytes.subspan(8 + hlen);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [key, info] : header.items()) {
    if (key == "__metadata__") continue;
    const std::string& tensor = key;  // (clang 14 cannot capture a structured binding)
    auto bad = [&](const std::string& what) { throw_input("{}: tensor {}: {}", name, tensor, what); };
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
      bad("needs dtype, shape and data_offsets");
    if (!info["dtype"].is_string()) bad("dtype is not a string");
    const std::string dt = info["dtype"].get<std::string>();
    SafeTensor t;
    t.name = key;
    if (dt == "F32") t.dtype = DType::F32;
    else if (dt == "F16") t.dtype = DType::F16;
    else if (dt == "BF16") t.dtype = DType::BF16;
    else bad(fmt::format("dtype {} is not supported (F32, F16, BF16)", dt));
    if (!info["shape"].is_array() || info["shape"].size() > 8) bad("shape is not a list of at most 8 sizes");
    uint64_t n = 1;
    for (const auto& d : info["shape"]) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) bad("shape holds a non-size");
      const uint64_t v = d.get<uint64_t>();
      if (v > (uint64_t{1} << 40) || (v != 0 && n > (uint64_t{1} << 40) / v)) bad("shape is too large");
      n *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    const auto& off = info["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad("data_offsets is not [begin, end]");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data.size()) bad(fmt::format("data_offsets [{}, {}] outside the {} data bytes", b, e, data.size()));
    const uint64_t want = n * (t.dtype == DType::F32 ? 4 : 2);
    if (e - b != want) bad(fmt::format("holds {} bytes but its shape needs {}", e - b, want));
    t.data = data.subspan(b, e - b);
    ranges.emplace_back(b, e);
    s.tensors_.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) throw_input("{}: tensor data ranges overlap", name);
  return s;
}

Checkpoint Checkpoint::open(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  Checkpoint c;
  std::vector<fs::path> files;
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(dir / "model.safetensors")) {
    files.push_back(dir / "model.safetensors");
  } else if (fs::exists(index)) {
    std::ifstream in(index);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw_input("{}: not valid JSON: {}", index.string(), e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) throw_input("{}: weight_map: missing", index.string());
    std::set<std::string> shards;
    for (const auto& [k, v] : j["weight_map"].items()) {
      if (!v.is_string()) throw_input("{}: weight_map[{}]: not a file name", index.string(), k);
      const std::string f = v.get<std::string>();
      if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
        throw_input("{}: weight_map[{}]: '{}' is not a file in the directory", index.string(), k, f);
      shards.insert(f);
    }
    for (const auto& f : shards) files.push_back(dir / f);
  } else if (fs::is_directory(dir)) {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".safetensors") files.push_back(e.path());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) throw_input("{}: no *.safetensors weights found", dir.string());
  for (const auto& f : files) c.files_.push_back(SafetensorsFile::open(f.string()));
  for (const auto& f : c.files_)
    for (const auto& t : f.tensors())
      if (!c.by_name_.emplace(t.name, &t).second) throw_input("{}: tensor {} appears in two files", f.name(), t.name);
  return c;
}

const SafeTensor* Checkpoint::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace tandem::model
