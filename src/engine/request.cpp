#include "engine/request.h"

namespace tandem::engine {

bool RequestStream::next(Event& e, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
  e = std::move(events_.front());
  events_.pop_front();
  return true;
}

void RequestStream::push(Event e) {
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = e.final;
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

void RequestStream::fail_unavailable(const std::string& error) {
  Event e;
  e.final = true;
  e.reason = StopReason::Cancelled;
  e.error = error;
  e.unavailable = true;
  push(std::move(e));
}

bool RequestStream::ended() const {
  std::lock_guard lock(mu_);
  return ended_;
}

Usage RequestStream::usage() const {
  std::lock_guard lock(mu_);
  return usage_;
}

void RequestStream::set_usage(const Usage& u) {
  std::lock_guard lock(mu_);
  usage_ = u;
}

}  // namespace tandem::engine
