// SPDX-License-Identifier: BSL-1.0
// start_server and Server. See include/asynclink/posix/server.hpp.
//
// A ServerCore is shared by the Server object, one accepting task per
// listening socket and one task per connection; it lives until the last of
// them is gone. close() cancels the accepting tasks and closes the sockets;
// each connection's task removes itself from `clients_` when its handler
// ends, and the last one to go after close() sets `idle_` (wait_closed()).
#include "asynclink/posix/server.hpp"

#include <cerrno>
#include <chrono>
#include <map>
#include <string>
#include <system_error>
#include <utility>

#include "asynclink/errors.hpp"
#include "asynclink/event.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/unblock.hpp"
#include "stream_core.hpp"
#include "tcp.hpp"

namespace asynclink {

namespace detail {

class ServerCore : public std::enable_shared_from_this<ServerCore> {
public:
    ServerCore(ConnectionHandler handler, StreamOptions stream, std::vector<TcpListener> listeners) noexcept
        : handler_(std::move(handler)), stream_(stream), listeners_(std::move(listeners)) {}

    /// Starts one accepting task per listening socket. Loop thread.
    void start() {
        loop_id_ = Loop::current().id();
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
            acceptors_.push_back(create_task(accept_loop(shared_from_this(), i)));
        }
    }

    std::vector<Endpoint> sockets() const {
        std::vector<Endpoint> endpoints;
        if (closed_) return endpoints;
        for (const TcpListener& l : listeners_) endpoints.push_back(Endpoint{l.host(), l.port()});
        return endpoints;
    }
    std::uint16_t port() const noexcept { return port_; }
    void set_port(std::uint16_t port) noexcept { port_ = port; }
    bool closed() const noexcept { return closed_; }

    /// Throws UsageError unless called on the thread running the server's loop.
    void check_loop(const char* operation) const {
        Loop* current = port::current_loop();
        if (current == nullptr || current->id() != loop_id_) [[unlikely]] {
            throw UsageError(std::string(operation) +
                             " called from a thread that is not running the server's loop; hand the request to a "
                             "task of that loop with Loop::call_soon_threadsafe");
        }
    }

    void close() {
        check_loop("Server::close");
        if (closed_) return;
        closed_ = true;
        for (TaskHandle<void>& acceptor : acceptors_) acceptor.cancel();
        // Their frames hold the core: keeping the handles would keep both.
        acceptors_.clear();
        stop_listening();
        closed_event_.set();
        if (clients_.empty()) idle_.set();
    }

    /// close() for ~Server: on another thread, or once the loop has ended,
    /// only the sockets can be closed (tasks and Events belong to the loop,
    /// whose end cancels the tasks anyway).
    void close_from_destructor() noexcept {
        Loop* current = port::current_loop();
        if (current != nullptr && current->id() == loop_id_) {
            try {
                close();
                return;
            } catch (...) {
                // Only the Events' loop check can throw, and it passed above.
            }
        }
        closed_ = true;
        acceptors_.clear();
        stop_listening();
    }

    void close_clients() {
        check_loop("Server::close_clients");
        // Cancel copies: a cancelled task may end, and remove itself, at once.
        std::vector<TaskHandle<void>> running;
        running.reserve(clients_.size());
        for (auto& [id, client] : clients_) running.push_back(client);
        for (TaskHandle<void>& client : running) client.cancel();
    }

    Event& closed_event() noexcept { return closed_event_; }
    Event& idle() noexcept { return idle_; }

private:
    /// Removes a connection's task from `clients_` when its handler ends.
    class ClientGuard {
    public:
        ClientGuard(ServerCore& server, std::uint64_t id) noexcept : server_(server), id_(id) {}
        // NOLINTNEXTLINE(bugprone-exception-escape): Event::set throws only off its loop; this runs in a task on it
        ~ClientGuard() {
            server_.clients_.erase(id_);
            if (server_.closed_ && server_.clients_.empty()) server_.idle_.set();
        }
        ClientGuard(const ClientGuard&) = delete;
        ClientGuard& operator=(const ClientGuard&) = delete;

    private:
        ServerCore& server_;
        std::uint64_t id_;
    };

    static Task<void> serve_client(std::shared_ptr<ServerCore> self, std::uint64_t id, Stream connection) {
        ClientGuard guard(*self, id);
        co_await self->handler_(std::move(connection));
    }

    static bool out_of_resources(int error) noexcept {
        return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
    }

    static Task<void> accept_loop(std::shared_ptr<ServerCore> self, std::size_t index) {
        // close() cancels this task, but a cancel that comes after an accept
        // completed fires only at the next suspension point: check closed_
        // too, or the next accept would be on the listener close() replaced.
        for (;;) {
            Stream connection;
            bool retry = false;
            try {
                connection = co_await self->listeners_[index].accept(self->stream_);
            } catch (const std::system_error& e) {
                if (self->closed_) co_return;
                if (!out_of_resources(e.code().value())) throw;
                retry = true;
            }
            if (retry) {
                // Out of descriptors or memory: the connection waits in the
                // backlog while handlers finish and free some (asyncio waits
                // a second too).
                co_await sleep(std::chrono::seconds(1));
            } else if (!self->closed_) {
                self->start_client(std::move(connection));
            }
            if (self->closed_) co_return;  // a connection accepted as the server closed is dropped
        }
    }

    void start_client(Stream connection) {
        std::uint64_t id = next_client_++;
        TaskHandle<void> client = create_task(serve_client(shared_from_this(), id, std::move(connection)));
        if (!client.done()) clients_.emplace(id, std::move(client));
    }

    void stop_listening() noexcept {
        // Assigning an empty listener closes the socket (TcpListener's move
        // assignment) on any thread; an accept waiting on it ends with EBADF.
        for (TcpListener& l : listeners_) l = TcpListener();
    }

    ConnectionHandler handler_;
    StreamOptions stream_;
    /// Never resized once the accepting tasks run: they index it.
    std::vector<TcpListener> listeners_;
    std::vector<TaskHandle<void>> acceptors_;
    std::map<std::uint64_t, TaskHandle<void>> clients_;
    std::uint64_t next_client_ = 0;
    std::uint64_t loop_id_ = 0;
    std::uint16_t port_ = 0;
    bool closed_ = false;
    Event closed_event_;  ///< set by close(): serve_forever() returns
    Event idle_;          ///< set once closed with no connection left: wait_closed() returns
};

}  // namespace detail

namespace {

using detail::FdGuard;
using detail::ResolveFor;
using detail::ServerCore;
using detail::SocketAddress;

Task<void> wait_closed_core(std::shared_ptr<ServerCore> core) { co_await core->idle().wait(); }

Task<void> serve_forever_core(std::shared_ptr<ServerCore> core) {
    try {
        co_await core->closed_event().wait();
    } catch (const CancelledError&) {
        core->close();
        throw;
    }
}

/// Binds every address; with port 0, the kernel picks the first socket's
/// port and the others take the same, so a server has one port.
std::vector<TcpListener> listen_all(std::vector<SocketAddress> addresses, std::uint16_t port,
                                    const ListenOptions& options) {
    std::vector<TcpListener> listeners;
    for (SocketAddress& address : addresses) {
        if (port == 0 && !listeners.empty()) address.set_port(listeners.front().port());
        FdGuard fd(detail::listen_socket(address, options));
        listeners.push_back(TcpListener::adopt(fd.get(), options));
        fd.release();
    }
    return listeners;
}

Task<Server> start(ConnectionHandler handler, std::string host, std::uint16_t port, ServerOptions options) {
    std::vector<SocketAddress> addresses = detail::resolve_numeric(host, port, ResolveFor::listen);
    if (addresses.empty()) addresses = co_await unblock(&detail::resolve_blocking, host, port, ResolveFor::listen);
    std::vector<TcpListener> listeners = listen_all(std::move(addresses), port, options);
    std::uint16_t chosen = listeners.front().port();
    auto core = std::make_shared<ServerCore>(std::move(handler), options.stream, std::move(listeners));
    core->set_port(chosen);
    core->start();
    // NOLINTNEXTLINE(clang-analyzer-cplusplus.Move): clang 14 evaluates a co_return operand twice
    co_return Server(std::move(core));
}

}  // namespace

Server::Server() noexcept = default;
Server::Server(std::shared_ptr<detail::ServerCore> core) noexcept : core_(std::move(core)) {}
Server::Server(Server&&) noexcept = default;

Server& Server::operator=(Server&& other) noexcept {
    if (this != &other) {
        if (core_) core_->close_from_destructor();
        core_ = std::move(other.core_);
    }
    return *this;
}

Server::~Server() {
    if (core_) core_->close_from_destructor();
}

detail::ServerCore& Server::core(const char* operation) const {
    if (!core_) throw UsageError(std::string(operation) + " on an empty Server (default-constructed or moved from)");
    return *core_;
}

std::vector<Endpoint> Server::sockets() const { return core("Server::sockets").sockets(); }
std::uint16_t Server::port() const { return core("Server::port").port(); }
bool Server::is_serving() const { return !core("Server::is_serving").closed(); }
void Server::close() { core("Server::close").close(); }
void Server::close_clients() { core("Server::close_clients").close_clients(); }

Task<void> Server::wait_closed() {
    core("Server::wait_closed");
    return wait_closed_core(core_);
}

Task<void> Server::serve_forever() {
    core("Server::serve_forever");
    return serve_forever_core(core_);
}

Task<Server> start_server(ConnectionHandler handler, std::string host, std::uint16_t port, ServerOptions options) {
    if (!handler) throw UsageError("start_server given an empty handler");
    return start(std::move(handler), std::move(host), port, options);
}

}  // namespace asynclink
