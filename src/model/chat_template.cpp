#include "model/chat_template.h"

#include "core/error.h"
#include "gguf/file.h"
#include "model/jinja/builtins.h"
#include "model/jinja/interpreter.h"
#include "model/metadata.h"

namespace tandem::model {

struct ChatTemplate::Impl {
  std::string source, bos, eos;
  jinja::Body body;
};

ChatTemplate::ChatTemplate(std::string source, std::string bos_token, std::string eos_token)
    : impl_(std::make_unique<Impl>()) {
  impl_->body = jinja::parse(source);
  impl_->source = std::move(source);
  impl_->bos = std::move(bos_token);
  impl_->eos = std::move(eos_token);
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::optional<ChatTemplate> ChatTemplate::from_gguf(const gguf::File& file) {
  const Metadata m(file);
  auto src = m.find_string("tokenizer.chat_template");
  if (!src) return std::nullopt;
  auto token = [&](const char* key) -> std::string {
    auto id = m.find_int(key);
    const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
    if (!id || !tokens || !tokens->as_array() || *id < 0 ||
        *id >= static_cast<int64_t>(tokens->as_array()->items.size()))
      return "";
    const std::string* s = tokens->as_array()->items[static_cast<size_t>(*id)].as_string();
    return s ? *s : "";
  };
  try {
    return ChatTemplate(*src, token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"));
  } catch (const InputError& e) {
    throw_input("{}: tokenizer.chat_template: {}", file.name(), e.what());
  }
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  jinja::List msgs;
  for (const ChatMessage& m : messages)
    msgs.emplace_back(jinja::Dict{{"role", jinja::Value(m.role)}, {"content", jinja::Value(m.content)}});
  jinja::Globals g;
  jinja::add_global_functions(g);
  g["messages"] = jinja::Value(std::move(msgs));
  g["add_generation_prompt"] = jinja::Value(add_generation_prompt);
  g["bos_token"] = jinja::Value(impl_->bos);
  g["eos_token"] = jinja::Value(impl_->eos);
  return jinja::render(impl_->body, g);
}

const std::string& ChatTemplate::source() const { return impl_->source; }

ChatTemplate ChatTemplate::chatml(std::string bos_token, std::string eos_token) {
  static constexpr const char* kChatMl =
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
      "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  return ChatTemplate(kChatMl, std::move(bos_token), std::move(eos_token));
}

}  // namespace tandem::model
