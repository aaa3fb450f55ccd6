// The OpenAI-compatible HTTP server (cpp-httplib): routes, bearer-token auth, body limits,
// streaming (SSE), errors in OpenAI's shape, /health, /metrics and the chat page at /.
// It listens before the model is loaded (GET /health answers 503 until set_engine()).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "server/metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace tandem::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see port())
  std::string api_key;
  std::string model_name;  // the id /v1/models lists and requests must name
  size_t max_body_bytes = 8 << 20;
  int http_threads = 64;  // connections served at once (streams hold one each)
};

class Server {
 public:
  // Binds the address; InputError when it cannot (port in use, bad host).
  explicit Server(ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  // Starts answering on its own thread.
  void start();
  // The model is loaded: completions are served from now on.
  void set_engine(engine::Engine* engine);
  // Stops accepting completions (503), lets the engine finish or cancel what is in flight
  // within `grace`, then stops listening.
  void shutdown(std::chrono::milliseconds grace);
  void wait();  // until the listener thread ends

 private:
  void routes();
  void completion(const httplib::Request& req, httplib::Response& res, int endpoint);
  bool authorized(const httplib::Request& req, httplib::Response& res);
  template <typename Fn>
  void json_post(const httplib::Request& req, httplib::Response& res, Fn&& fn);

  ServerOptions opts_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<engine::Engine*> engine_{nullptr};
  std::atomic<bool> stopping_{false};
  Metrics metrics_;
};

// The chat page served at / (chat_page.cpp).
const char* chat_page_html();

}  // namespace tandem::server
