#include "server.h"

#include <chrono>
#include <csignal>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>

#include "tessera/check.h"
#include "tessera/log.h"
#include "http_session.h"
#include "server_state.h"
#include "tessera/tokenizer.h"

namespace tessera::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Server::Impl {
  Impl(Engine& engine, ServerOptions options)
      : state(engine, std::move(options)),
        ioc(std::max(1, state.options.http_threads)),
        acceptor(net::make_strand(ioc)),
        signals(ioc, SIGINT, SIGTERM) {}

  void accept() {
    acceptor.async_accept(
        net::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket socket) {
          if (ec) {
            if (!acceptor.is_open()) return;
            TSR_LOG_WARN("accept failed: {}", ec.message());
          } else {
            auto session = std::make_shared<Session>(std::move(socket), state);
            {
              std::lock_guard lock(state.sessions_mutex);
              std::erase_if(state.sessions, [](const auto& w) { return w.expired(); });
              state.sessions.push_back(session);
            }
            session->start();
          }
          accept();
        });
  }

  void wait_signal() {
    signals.async_wait([this](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (state.shutting_down) {
        TSR_LOG_WARN("second signal: aborting in-flight requests now");
        force = true;
      } else {
        TSR_LOG_INFO("signal {}: shutting down (in-flight requests get {} s)", signal,
                     state.options.shutdown_grace_s);
        begin_shutdown();
      }
      wait_signal();
    });
  }

  void begin_shutdown() {
    if (state.shutting_down.exchange(true)) return;
    net::post(acceptor.get_executor(), [this] {
      boost::system::error_code ignored;
      acceptor.close(ignored);
    });
    {
      std::lock_guard lock(state.sessions_mutex);
      for (const auto& weak : state.sessions) {
        if (auto session = weak.lock()) session->close_if_idle();
      }
    }
    shutdown_thread = std::thread([this] { finish_shutdown(); });
  }

  void finish_shutdown() {
    using Clock = std::chrono::steady_clock;
    const auto deadline =
        Clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(state.options.shutdown_grace_s * 1000));
    while (state.engine.has_unfinished() && !force && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    {
      std::lock_guard lock(state.admission_mutex);
      state.engine_stopped = true;
    }
    state.engine.stop();  // aborts what is left: every channel gets its final output
    {
      std::unique_lock lock(state.relay_mutex);
      state.relay_idle.wait(lock, [&] { return state.relays == 0; });
    }
    const auto flush_deadline = Clock::now() + std::chrono::seconds(3);
    while (state.live_sessions > 0 && Clock::now() < flush_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    net::post(ioc, [this] {
      boost::system::error_code ignored;
      signals.cancel(ignored);
    });
    ioc.stop();
  }

  ServerState state;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::signal_set signals;
  std::thread shutdown_thread;
  std::atomic<bool> force{false};
};

Server::Server(Engine& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {
  auto& st = impl_->state;
  TSR_CHECK(!st.options.served_model_names.empty(), "no served model name");
  st.limits.served_model_names = st.options.served_model_names;
  st.limits.max_model_len = engine.max_model_len();
  st.limits.kv_tokens =
      engine.memory_plan().kv_tokens > 0 ? engine.memory_plan().kv_tokens : engine.max_model_len();
  st.limits.max_logprobs = engine.config().max_logprobs;
  st.limits.prompt_logprobs_supported = engine.request_limits().prompt_logprobs_supported;
  st.limits.max_n = st.options.max_n;
  st.limits.default_max_tokens = st.options.default_max_tokens;
  st.limits.chat_parsing = st.options.chat_parsing;
  st.limits.vocab_size = static_cast<int32_t>(
      engine.model().vocab_size > 0 ? engine.model().vocab_size : engine.tokenizer().vocab_size());
  st.prompts = std::make_unique<PromptBuilder>(engine.tokenizer(), st.options.chat_template,
                                               st.options.default_chat_template_kwargs);
  st.started_at = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
}

Server::~Server() {
  if (impl_->shutdown_thread.joinable()) impl_->shutdown_thread.join();
}

int Server::run(const std::function<void(const std::string&)>& on_ready) {
  auto& im = *impl_;
  const auto& options = im.state.options;
  boost::system::error_code ec;
  tcp::resolver resolver(im.ioc);
  const auto endpoints = resolver.resolve(options.host, std::to_string(options.port), ec);
  TSR_CHECK(!ec && !endpoints.empty(), "--host {}: cannot resolve: {}", options.host, ec.message());
  const tcp::endpoint endpoint = *endpoints.begin();
  im.acceptor.open(endpoint.protocol(), ec);
  TSR_CHECK(!ec, "cannot open a socket: {}", ec.message());
  im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  im.acceptor.bind(endpoint, ec);
  TSR_CHECK(!ec, "cannot listen on {}:{}: {}", options.host, options.port, ec.message());
  im.acceptor.listen(net::socket_base::max_listen_connections, ec);
  TSR_CHECK(!ec, "cannot listen on {}:{}: {}", options.host, options.port, ec.message());
  const auto bound = im.acceptor.local_endpoint();

  im.state.engine.start();
  im.wait_signal();
  im.accept();
  const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                   : bound.address().to_string();
  const std::string url = "http://" + host + ":" + std::to_string(bound.port());
  if (on_ready) on_ready(url);

  std::vector<std::thread> threads;
  for (int i = 1; i < std::max(1, options.http_threads); ++i) {
    threads.emplace_back([&im] { im.ioc.run(); });
  }
  im.ioc.run();
  for (auto& t : threads) t.join();
  if (im.shutdown_thread.joinable()) im.shutdown_thread.join();
  TSR_LOG_INFO("server stopped");
  return 0;
}

void Server::stop() {
  impl_->begin_shutdown();
}

}  // namespace tessera::server
