// Chat templates: tokenizer.chat_template rendered by our interpreter of the Jinja subset the
// common templates use (model/jinja/). Output matches python3-jinja2 for those templates.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

namespace tandem::gguf {
class File;
}

namespace tandem::model {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

class ChatTemplate {
 public:
  // Parses the source; a syntax error throws InputError with line and column.
  ChatTemplate(std::string source, std::string bos_token, std::string eos_token);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // tokenizer.chat_template with BOS/EOS text taken from the vocabulary; nullopt when the file
  // has no template.
  static std::optional<ChatTemplate> from_gguf(const gguf::File& file);
  // ChatML, for models whose file has no template (as llama.cpp falls back to it).
  static ChatTemplate chatml(std::string bos_token, std::string eos_token);

  // Throws InputError when the template calls raise_exception (its message) or fails.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  const std::string& source() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::model
