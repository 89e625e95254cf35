#include "serve_client.h"

#include <optional>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tessera/check.h"

namespace tessera::bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

Url parse_url(const std::string& text) {
  const std::string scheme = "http://";
  TSR_CHECK(text.rfind(scheme, 0) == 0, "--base-url {}: only http://host:port URLs are supported",
            text);
  std::string rest = text.substr(scheme.size());
  Url url;
  const auto slash = rest.find('/');
  if (slash != std::string::npos) {
    url.base_path = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  while (!url.base_path.empty() && url.base_path.back() == '/') url.base_path.pop_back();
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    url.host = rest.substr(0, colon);
    url.port = rest.substr(colon + 1);
  } else {
    url.host = rest;
    url.port = "80";
  }
  if (url.host.size() > 2 && url.host.front() == '[')
    url.host = url.host.substr(1, url.host.size() - 2);
  TSR_CHECK(!url.host.empty() && !url.port.empty(), "--base-url {}: no host", text);
  return url;
}

struct ServeClient::Impl {
  explicit Impl(Url u) : url(std::move(u)), work(net::make_work_guard(ioc)) {
    tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    endpoints = resolver.resolve(url.host, url.port, ec);
    TSR_CHECK(!ec, "cannot resolve {}:{}: {}", url.host, url.port, ec.message());
  }
  Url url;
  std::string api_key;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work;
  tcp::resolver::results_type endpoints;
  std::vector<std::thread> threads;
};

namespace {

class StreamCall : public std::enable_shared_from_this<StreamCall> {
 public:
  StreamCall(ServeClient::Impl& client, const std::string& path, const json& body,
             std::function<void(StreamResult)> done)
      : client_(client), stream_(net::make_strand(client.ioc)), done_(std::move(done)) {
    request_.method(http::verb::post);
    request_.target(client.url.base_path + path);
    request_.version(11);
    request_.set(http::field::host, client.url.host);
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::user_agent, "tessera-bench");
    if (!client.api_key.empty())
      request_.set(http::field::authorization, "Bearer " + client.api_key);
    request_.body() = body.dump();
    request_.prepare_payload();
    parser_.body_limit(boost::none);
    on_chunk_ = [this](uint64_t, beast::string_view data, beast::error_code&) {
      on_data(data);
      return data.size();
    };
    parser_.on_chunk_body(on_chunk_);
  }

  void run() {
    start_ = Clock::now();
    last_ = start_;
    stream_.async_connect(
        client_.endpoints, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->fail("connect: " + ec.message());
          http::async_write(self->stream_, self->request_, [self](beast::error_code wec, size_t) {
            if (wec) return self->fail("write: " + wec.message());
            self->read();
          });
        });
  }

 private:
  void read() {
    http::async_read_some(stream_, buffer_, parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->fail("read: " + ec.message());
                            if (self->parser_.is_done()) return self->finish();
                            self->read();
                          });
  }

  void on_data(beast::string_view data) {
    const auto now = Clock::now();
    pending_.append(data.data(), data.size());
    size_t end;
    while ((end = pending_.find("\n\n")) != std::string::npos) {
      const std::string event = pending_.substr(0, end);
      pending_.erase(0, end + 2);
      handle_event(event, now);
    }
  }

  void handle_event(const std::string& event, Clock::time_point now) {
    if (event.rfind("data: ", 0) != 0) return;
    const std::string payload = event.substr(6);
    if (payload == "[DONE]") return;
    json data = json::parse(payload, nullptr, false);
    if (data.is_discarded()) return;
    if (data.contains("error")) {
      server_error_ = data["error"].is_object() && data["error"].contains("message")
                          ? data["error"]["message"].dump()
                          : data["error"].dump();
      return;
    }
    if (data.contains("choices") && data["choices"].is_array() && !data["choices"].empty()) {
      if (!first_) {
        first_ = true;
        result_.ttft = std::chrono::duration<double>(now - start_).count();
      } else {
        result_.itl.push_back(std::chrono::duration<double>(now - last_).count());
      }
      last_ = now;
      const auto& text = data["choices"][0]["text"];
      if (text.is_string()) result_.generated_text += text.get<std::string>();
    } else if (data.contains("usage") && data["usage"].is_object()) {
      result_.output_tokens = data["usage"].value("completion_tokens", -1);
    }
  }

  void finish() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    const auto status = parser_.get().result_int();
    if (status != 200) {
      result_.error = "HTTP " + std::to_string(status) + ": " + parser_.get().body();
    } else if (!server_error_.empty()) {
      result_.error = "server error: " + server_error_;
    } else if (!first_) {
      result_.error = "Never received a valid chunk to calculate TTFT.";
    } else {
      result_.success = true;
      result_.latency = std::chrono::duration<double>(last_ - start_).count();
    }
    done_(std::move(result_));
  }

  void fail(const std::string& what) {
    result_.success = false;
    result_.error = what;
    done_(std::move(result_));
  }

  ServeClient::Impl& client_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  std::function<size_t(uint64_t, beast::string_view, beast::error_code&)> on_chunk_;
  std::function<void(StreamResult)> done_;
  std::string pending_;
  std::string server_error_;
  StreamResult result_;
  Clock::time_point start_;
  Clock::time_point last_;
  bool first_ = false;
};

}  // namespace

ServeClient::ServeClient(Url url, int threads, std::string api_key)
    : impl_(std::make_unique<Impl>(std::move(url))) {
  impl_->api_key = std::move(api_key);
  for (int i = 0; i < std::max(1, threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
}

ServeClient::~ServeClient() {
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
}

void ServeClient::stream(const std::string& path, const json& body,
                         std::function<void(StreamResult)> done) {
  auto call = std::make_shared<StreamCall>(*impl_, path, body, std::move(done));
  net::post(impl_->ioc, [call] { call->run(); });
}

std::pair<int, std::string> ServeClient::request(const std::string& method, const std::string& path,
                                                 const json& body) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect(impl_->endpoints, ec);
  TSR_CHECK(!ec, "cannot connect to {}:{}: {}", impl_->url.host, impl_->url.port, ec.message());
  http::request<http::string_body> req{http::string_to_verb(method), impl_->url.base_path + path,
                                       11};
  req.set(http::field::host, impl_->url.host);
  if (!impl_->api_key.empty()) req.set(http::field::authorization, "Bearer " + impl_->api_key);
  if (!body.is_null()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body.dump();
  }
  req.prepare_payload();
  http::write(stream, req, ec);
  TSR_CHECK(!ec, "{} {}: {}", method, path, ec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res, ec);
  TSR_CHECK(!ec, "{} {}: {}", method, path, ec.message());
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return {res.result_int(), res.body()};
}

}  // namespace tessera::bench
