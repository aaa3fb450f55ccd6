// tandem inspect FILE [--json]: a GGUF file's metadata and tensor table.
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/file.h"

namespace tandem::cli {
namespace {

using gguf::Value;
using gguf::ValueType;

nlohmann::json to_json(const Value& v) {
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, gguf::Array>) {
          nlohmann::json a = nlohmann::json::array();
          for (const Value& item : x.items) a.push_back(to_json(item));
          return a;
        } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t> ||
                             std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>) {
          return static_cast<uint64_t>(x);
        } else if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, int16_t> ||
                             std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>) {
          return static_cast<int64_t>(x);
        } else if constexpr (std::is_same_v<T, float>) {
          // Through the shortest decimal form, so 1e-5f prints as 1e-05, not 9.99999974e-06.
          return std::stod(fmt::format("{}", x));
        } else {
          return x;  // double, bool, string
        }
      },
      v.v);
}

// A string for one terminal line: control characters escaped, long text cut.
std::string printable(const std::string& s, size_t limit) {
  std::string out;
  for (unsigned char ch : s) {
    if (out.size() >= limit) {
      out += "...";
      break;
    }
    if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (ch < 32 || ch == 127) out += fmt::format("\\x{:02x}", ch);
    else out += static_cast<char>(ch);
  }
  return out;
}

std::string scalar_text(const Value& v) {
  if (const std::string* s = v.as_string()) return "\"" + printable(*s, 60) + "\"";
  if (const bool* b = v.get<bool>()) return *b ? "true" : "false";
  if (const float* f = v.get<float>()) return fmt::format("{}", *f);
  if (const double* d = v.get<double>()) return fmt::format("{}", *d);
  if (const uint64_t* u = v.get<uint64_t>()) return fmt::format("{}", *u);
  if (auto i = v.as_int()) return fmt::format("{}", *i);
  return "?";
}

std::string value_text(const Value& v) {
  const gguf::Array* a = v.as_array();
  if (a == nullptr) return scalar_text(v);
  std::string s = "[";
  const size_t shown = std::min<size_t>(a->items.size(), 5);
  for (size_t i = 0; i < shown; ++i) {
    if (i) s += ", ";
    s += a->items[i].as_array() ? fmt::format("arr[{}]", a->items[i].as_array()->items.size())
                                : scalar_text(a->items[i]);
  }
  if (a->items.size() > shown) s += fmt::format(", ... {} more", a->items.size() - shown);
  return s + "]";
}

std::string type_text(const Value& v) {
  if (const gguf::Array* a = v.as_array())
    return fmt::format("arr[{},{}]", gguf::value_type_name(a->type), a->items.size());
  return std::string(gguf::value_type_name(v.type()));
}

std::string shape_text(const gguf::TensorInfo& t) {
  std::string s;
  for (int d = 0; d < t.n_dims; ++d) s += (d ? " x " : "") + std::to_string(t.ne[d]);
  return s;
}

void print_json(const gguf::File& f) {
  nlohmann::ordered_json j;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : f.metadata()) meta[k] = to_json(v);
  j["metadata"] = std::move(meta);
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const gguf::TensorInfo& t : f.tensors()) {
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int d = 0; d < t.n_dims; ++d) shape.push_back(t.ne[d]);
    tensors.push_back({{"name", t.name},
                       {"type", std::string(dtype_name(t.type))},
                       {"shape", std::move(shape)},
                       {"offset", f.data_offset() + t.offset},
                       {"bytes", t.nbytes}});
  }
  j["tensors"] = std::move(tensors);
  // Metadata strings are untrusted: invalid UTF-8 is replaced rather than aborting the dump.
  fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

void print_text(const gguf::File& f) {
  fmt::print("{}: GGUF v{}, {} bytes, alignment {}, tensor data at byte {}\n", f.name(),
             f.version(), f.file_size(), f.alignment(), f.data_offset());
  fmt::print("\nmetadata ({} keys):\n", f.metadata().size());
  size_t key_width = 0;
  for (const auto& kv : f.metadata()) key_width = std::max(key_width, kv.first.size());
  for (const auto& [k, v] : f.metadata())
    fmt::print("  {:<{}}  {:<14} {}\n", printable(k, 80), key_width, type_text(v), value_text(v));

  size_t name_width = 4;
  for (const auto& t : f.tensors()) name_width = std::max(name_width, t.name.size());
  fmt::print("\ntensors ({}):\n", f.tensors().size());
  fmt::print("  {:<{}}  {:<8} {:<22} {:>14}\n", "name", name_width, "type", "shape", "bytes");
  struct Total {
    size_t count = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, Total> by_type;
  uint64_t params = 0, bytes = 0;
  for (const gguf::TensorInfo& t : f.tensors()) {
    fmt::print("  {:<{}}  {:<8} {:<22} {:>14}\n", printable(t.name, 120), name_width,
               dtype_name(t.type), shape_text(t), t.nbytes);
    params += static_cast<uint64_t>(t.nelements());
    bytes += t.nbytes;
    Total& tot = by_type[std::string(dtype_name(t.type))];
    tot.count++;
    tot.bytes += t.nbytes;
  }
  fmt::print("\ntotal: {} tensors, {} parameters, {} bytes ({:.2f} MiB)", f.tensors().size(),
             params, bytes, static_cast<double>(bytes) / (1024.0 * 1024.0));
  if (params != 0)
    fmt::print(", {:.2f} bits per weight", 8.0 * static_cast<double>(bytes) / static_cast<double>(params));
  fmt::print("\n");
  for (const auto& [type, tot] : by_type)
    fmt::print("  {:<8} {:>5} tensors {:>14} bytes\n", type, tot.count, tot.bytes);
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "print a GGUF file's metadata and tensor table");
  static std::string path;
  static bool json = false;
  cmd->add_option("FILE", path, "GGUF file")->required();
  cmd->add_flag("--json", json,
                "Print {\"metadata\": {key: value}, \"tensors\": [{name, type, shape, offset, "
                "bytes}]}; shape innermost first, offset = absolute byte offset in the file");
  cmd->callback([] {
    const gguf::File f = gguf::File::open(path);
    if (json) print_json(f);
    else print_text(f);
  });
}

}  // namespace tandem::cli
