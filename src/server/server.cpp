#include "server/server.h"

#include <httplib.h>

#include <fmt/format.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "server/api_error.h"
#include "server/openai.h"

namespace tandem::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(e.body()), "application/json");
}

const char* endpoint_name(Endpoint ep) { return ep == Endpoint::Chat ? "chat_completions" : "completions"; }

}  // namespace

Server::Server(ServerOptions opts) : opts_(std::move(opts)), http_(std::make_unique<httplib::Server>()) {
  const int threads = opts_.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_->set_payload_max_length(opts_.max_body_bytes);
  http_->set_read_timeout(30, 0);
  http_->set_write_timeout(30, 0);
  // Streamed tokens leave at once: with Nagle's algorithm a small write waits for the ACK of
  // the previous one, which a client may delay by 40 ms (measured: a node:http client's TTFT
  // 44 ms instead of 11, its tokens arriving in bursts).
  http_->set_tcp_nodelay(true);
  routes();
  // cpp-httplib listens with a backlog of 5 connections: when more clients connect at once (a
  // burst of streams), the kernel drops their SYNs and each waits a 1 s retransmit before its
  // request even starts. (Its CPPHTTPLIB_LISTEN_BACKLOG does not help: Debian's package builds
  // the library with it, libcpp-httplib.so.) The listening socket (the last one made; the
  // library closes those that fail to bind) listens again with the system's largest backlog.
  int listen_fd = -1;
  http_->set_socket_options([&listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd = static_cast<int>(sock);
  });
  port_ = opts_.port == 0 ? http_->bind_to_any_port(opts_.host)
                          : (http_->bind_to_port(opts_.host, opts_.port) ? opts_.port : -1);
  http_->set_socket_options(httplib::default_socket_options);
  if (port_ <= 0)
    throw_input("cannot listen on {}:{} (is the port in use, or the address not local?)", opts_.host, opts_.port);
  if (listen_fd >= 0 && ::listen(listen_fd, SOMAXCONN) != 0)
    log(LogLevel::Warn, "could not raise the listen backlog: {}", std::strerror(errno));
}

Server::~Server() {
  if (http_->is_running()) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void Server::start() {
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void Server::wait() {
  if (thread_.joinable()) thread_.join();
}

void Server::set_engine(engine::Engine* engine) { engine_.store(engine); }

void Server::shutdown(std::chrono::milliseconds grace) {
  stopping_.store(true);
  if (engine::Engine* e = engine_.load()) e->shutdown(grace);
  // Streams end once their final event is written; give the handlers a moment to flush.
  std::this_thread::sleep_for(100ms);
  http_->stop();
}

// A small JSON endpoint: auth, a loaded model, a JSON object body; fn's ApiError is the reply.
template <typename Fn>
void Server::json_post(const httplib::Request& req, httplib::Response& res, Fn&& fn) {
  if (!authorized(req, res)) return;
  try {
    engine::Engine* eng = engine_.load();
    if (!eng) throw ApiError(503, "the model is still loading; retry shortly", "server_error");
    const json b = json::parse(req.body, nullptr, false);
    if (!b.is_object()) throw ApiError(400, "the body must be a JSON object");
    res.set_content(dump(fn(b, eng->model().tokenizer())), "application/json");
  } catch (const ApiError& e) {
    send_error(res, e);
  }
}

bool Server::authorized(const httplib::Request& req, httplib::Response& res) {
  if (opts_.api_key.empty()) return true;
  const std::string auth = req.get_header_value("Authorization");
  if (auth == "Bearer " + opts_.api_key) return true;
  send_error(res, ApiError(401, auth.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "invalid API key",
                           "invalid_request_error", {}, "invalid_api_key"));
  return false;
}

void Server::routes() {
  httplib::Server& s = *http_;
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    // cpp-httplib caps form-encoded bodies (curl -d without a Content-Type) at 8 KiB, whatever
    // --body-limit says: name the way out.
    if (res.status == 413 && req.get_header_value("Content-Type").starts_with("application/x-www-form-urlencoded") &&
        req.get_header_value<uint64_t>("Content-Length") <= opts_.max_body_bytes) {
      send_error(res, ApiError(413, fmt::format("a body sent as application/x-www-form-urlencoded is limited to 8192 bytes: "
                                                "send the JSON with Content-Type: application/json: {} {}",
                                                req.method, req.path)));
      return;
    }
    const char* msg = res.status == 404 ? "no such endpoint"
                      : res.status == 413 ? "the request body is larger than the server's limit"
                      : res.status == 405 ? "method not allowed"
                                          : "bad request";
    send_error(res, ApiError(res.status, fmt::format("{}: {} {}", msg, req.method, req.path)));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, fmt::format("internal error: {}", e.what()), "server_error"));
    }
  });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (!engine_.load() || stopping_.load()) {
      res.status = 503;
      res.set_content(dump({{"status", stopping_.load() ? "shutting down" : "loading model"}}), "application/json");
      return;
    }
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    engine::Engine* e = engine_.load();
    const engine::EngineStats st = e ? e->stats() : engine::EngineStats{};
    res.set_content(metrics_.render(e ? &st : nullptr), "text/plain; version=0.0.4");
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(chat_page_html(), "text/html; charset=utf-8"); });
  s.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    res.set_content(dump({{"object", "list"},
                          {"data", json::array({{{"id", opts_.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "tandem"}}})}}),
                    "application/json");
  });
  // llama.cpp's tokenizer endpoints: {"content": TEXT, "add_special": bool} -> {"tokens": [...]},
  // {"tokens": [...]} -> {"content": TEXT}. Load generators size prompts in tokens with them.
  s.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    json_post(req, res, [](const json& b, const model::Tokenizer& tok) {
      if (!b.contains("content") || !b["content"].is_string())
        throw ApiError(400, "the body must be an object with a string 'content'", "invalid_request_error", "content");
      if (b.contains("add_special") && !b["add_special"].is_boolean())
        throw ApiError(400, "'add_special' must be a boolean", "invalid_request_error", "add_special");
      return json{{"tokens", tok.encode(b["content"].get<std::string>(), b.value("add_special", false), /*parse_special=*/true)}};
    });
  });
  s.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    json_post(req, res, [](const json& b, const model::Tokenizer& tok) {
      if (!b.contains("tokens") || !b["tokens"].is_array())
        throw ApiError(400, "the body must be an object with an array 'tokens'", "invalid_request_error", "tokens");
      std::vector<model::TokenId> ids;
      for (const json& t : b["tokens"]) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.n_vocab())
          throw ApiError(400, fmt::format("'tokens' holds {}, not a token id below {}", t.dump(), tok.n_vocab()),
                         "invalid_request_error", "tokens");
        ids.push_back(t.get<model::TokenId>());
      }
      return json{{"content", tok.decode(ids)}};
    });
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    completion(req, res, static_cast<int>(Endpoint::Chat));
  });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    completion(req, res, static_cast<int>(Endpoint::Completion));
  });
}

namespace {

// One request's state shared with the streaming callback (which outlives the handler).
struct Exchange {
  ParsedRequest req;
  ResponseIds ids;
  std::shared_ptr<engine::RequestStream> stream;
  const model::Tokenizer* tok = nullptr;
  Metrics* metrics = nullptr;
  bool first = true, finished = false;
};

}  // namespace

void Server::completion(const httplib::Request& hreq, httplib::Response& res, int endpoint) {
  const auto ep = static_cast<Endpoint>(endpoint);
  const std::string name = endpoint_name(ep);
  try {
    if (!authorized(hreq, res)) {
      metrics_.request(name, res.status);
      return;
    }
    engine::Engine* eng = engine_.load();
    if (stopping_.load()) throw ApiError(503, "the server is shutting down", "server_error");
    if (!eng) throw ApiError(503, "the model is still loading; retry shortly", "server_error");
    auto ex = std::make_shared<Exchange>();
    ex->req = parse_request(ep, hreq.body, opts_.model_name);
    tokenize(eng->model(), ex->req);
    ex->tok = &eng->model().tokenizer();
    ex->metrics = &metrics_;
    ex->ids = new_response_ids(ep);
    try {
      ex->stream = eng->submit(ex->req.options);
    } catch (const InputError& e) {
      throw ApiError(400, e.what(), "invalid_request_error", ep == Endpoint::Chat ? "messages" : "prompt",
                     "context_length_exceeded");
    }
    if (!ex->stream) {
      if (stopping_.load()) throw ApiError(503, "the server is shutting down", "server_error");
      res.set_header("Retry-After", "1");
      throw ApiError(429, "too many requests are waiting; retry after a moment", "rate_limit_error", {}, "queue_full");
    }
    if (!ex->req.stream) {
      std::string text;
      json lps = json::array();
      engine::Event e;
      for (;;) {
        if (!ex->stream->next(e, 1000ms)) continue;
        text += e.text;
        if (e.token >= 0 && ex->req.logprobs) lps.push_back(token_logprob(*ex->tok, e));
        if (e.final) break;
      }
      if (e.unavailable) throw ApiError(503, e.error, "server_error");
      if (!e.error.empty()) throw ApiError(500, "generation failed: " + e.error, "server_error");
      if (e.reason == engine::StopReason::Cancelled) throw ApiError(503, "the request was cancelled: the server is shutting down", "server_error");
      const engine::Usage u = ex->stream->usage();
      metrics_.generation(u);
      res.set_content(dump(full_response(ex->req, ex->ids, text, lps, e.reason, u)), "application/json");
      metrics_.request(name, 200);
      return;
    }
    metrics_.request(name, 200);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [ex](size_t, httplib::DataSink& sink) {
          auto send = [&](const json& j) {
            const std::string line = "data: " + dump(j) + "\n\n";
            return sink.write(line.data(), line.size());
          };
          engine::Event e;
          int idle = 0;
          while (!ex->stream->next(e, 250ms)) {
            // Nothing to send yet (queued, or a long prefill): a comment line now and then finds
            // a client that went away.
            if (++idle % 8 == 0 && !sink.write(": waiting\n\n", 11)) return false;
          }
          json lp = json::array();
          if (e.token >= 0 && ex->req.logprobs) lp.push_back(token_logprob(*ex->tok, e));
          if (!e.final) {
            if ((e.text.empty() && lp.empty() && !ex->first)) return true;
            const bool ok = send(stream_chunk(ex->req, ex->ids, e.text, lp, nullptr, ex->first));
            ex->first = false;
            return ok;
          }
          ex->finished = true;
          const engine::Usage u = ex->stream->usage();
          ex->metrics->generation(u);
          if (e.unavailable) {
            send(ApiError(503, e.error, "server_error").body());
          } else if (!e.error.empty()) {
            send(ApiError(500, "generation failed: " + e.error, "server_error").body());
          } else {
            send(stream_chunk(ex->req, ex->ids, "", json::array(), &e.reason, ex->first));
            if (ex->req.include_usage) send(usage_chunk(ex->req, ex->ids, u));
          }
          static const char kDone[] = "data: [DONE]\n\n";
          sink.write(kDone, sizeof(kDone) - 1);
          sink.done();
          return true;
        },
        [ex](bool) {
          if (!ex->finished) ex->stream->cancel();  // the client went away: free its blocks now
        });
  } catch (const ApiError& e) {
    send_error(res, e);
    metrics_.request(name, e.status);
  } catch (const InputError& e) {
    send_error(res, ApiError(400, e.what()));
    metrics_.request(name, 400);
  }
}

}  // namespace tandem::server
