// SPDX-License-Identifier: BSL-1.0
// TCP on the loopback interfaces (127.0.0.1 and ::1 only, no other network):
// open_connection to numeric hosts and names resolved off the loop,
// start_server and its Server (close, wait_closed, close_clients,
// serve_forever), 200 concurrent clients, half-closed connections, a peer
// reset, a refused connect, cancelled connects and resolutions, and the
// connect timeout.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using test_support::settle;

namespace {

// Every test body runs under a generous deadline, so a bug fails the test
// instead of hanging it; no test relies on the deadline to pass.
al::Task<void> bounded(al::Task<void> body) { co_await al::wait_for(std::move(body), 120s); }
void run_bounded(al::Task<void> body) { al::run(bounded(std::move(body))); }

std::string pattern(std::size_t n, unsigned seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
    return s;
}

al::Task<std::string> read_to_eof(al::Stream& s) {
    std::string all;
    for (;;) {
        std::string chunk = co_await s.read(64 * 1024);
        if (chunk.empty()) co_return all;
        all += chunk;
    }
}

// Connects to `host`, sends `text` and the end of the stream, and expects the
// echo server to send it back.
al::Task<void> expect_echo(const char* host, std::uint16_t port, std::string text) {
    al::Stream c = co_await al::open_connection(host, port);
    c.write(text);
    c.write_eof();
    EXPECT_EQ(co_await read_to_eof(c), text) << "over " << host;
}

// Echoes every byte until the client ends its side, then ends its own.
al::Task<void> echo(al::Stream s) {
    for (;;) {
        std::string chunk = co_await s.read(64 * 1024);
        if (chunk.empty()) break;
        s.write(chunk);
        co_await s.drain();
    }
    s.close();
    co_await s.wait_closed();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A port nothing listens on: the kernel's pick for a socket closed at once.
std::uint16_t free_port() {
    al::TcpListener gone = al::TcpListener::open();
    return gone.port();
}

// The tests need ::1; a machine without IPv6 on loopback fails them with
// this message instead of skipping silently.
void require_ipv6_loopback() {
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0) << "no IPv6 sockets on this machine (socket(AF_INET6) failed: " << std::strerror(errno)
                     << "); the TCP tests need ::1";
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    int error = errno;
    ::close(fd);
    ASSERT_EQ(bound, 0) << "cannot bind ::1 (" << std::strerror(error)
                        << "): IPv6 loopback is off on this machine; the TCP tests need it";
}

// Holds every resolution of a name on its worker (detail::set_resolve_hook)
// until release() or the end of the scope, so a test can keep one pending.
// The state is static: a worker still leaving the hook never touches a freed
// object, and the destructor waits until every held worker has left.
struct HeldResolverState {
    std::mutex mutex;
    std::condition_variable wake;
    int entered = 0;
    int inside = 0;
    bool released = true;
};
HeldResolverState resolver_state;

class HeldResolver {
public:
    HeldResolver() {
        std::lock_guard lock(resolver_state.mutex);
        resolver_state.entered = 0;
        resolver_state.released = false;
        al::detail::set_resolve_hook(&hook);
    }
    ~HeldResolver() {
        release();
        std::unique_lock lock(resolver_state.mutex);
        resolver_state.wake.wait(lock, [] { return resolver_state.inside == 0; });
        al::detail::set_resolve_hook(nullptr);
    }
    HeldResolver(const HeldResolver&) = delete;
    HeldResolver& operator=(const HeldResolver&) = delete;

    void release() {
        {
            std::lock_guard lock(resolver_state.mutex);
            resolver_state.released = true;
        }
        resolver_state.wake.notify_all();
    }
    /// Resolutions that reached the worker (and were held there).
    int entered() const {
        std::lock_guard lock(resolver_state.mutex);
        return resolver_state.entered;
    }

private:
    static int hook(const char* /*host*/) {
        std::unique_lock lock(resolver_state.mutex);
        ++resolver_state.entered;
        ++resolver_state.inside;
        resolver_state.wake.wait(lock, [] { return resolver_state.released; });
        --resolver_state.inside;
        resolver_state.wake.notify_all();
        return 0;  // then resolve as usual
    }
};

// Polls (one loop iteration at a time) until `ready` holds; the test's
// deadline bounds it.
template <class F>
al::Task<void> until(F ready) {
    while (!ready()) co_await al::sleep(1ms);
}

// A listener whose accept queue is full and never taken from: a further
// connect to it stays pending (the kernel drops its SYNs), which makes a
// connect that neither succeeds nor fails, offline.
struct FullListener {
    al::TcpListener listener;
    std::vector<al::Stream> queued;
};

al::Task<FullListener> full_listener() {
    FullListener full;
    al::ListenOptions options;
    options.backlog = 0;
    full.listener = al::TcpListener::open("127.0.0.1", 0, options);
    for (int i = 0; i < 2; ++i) {
        // Either connects (queued) or stays pending (full already): both fill it.
        auto attempt = al::create_task(al::open_connection("127.0.0.1", full.listener.port()));
        co_await settle(5);
        if (attempt.done()) {
            full.queued.push_back(co_await attempt);
        } else {
            attempt.cancel();
            try {
                co_await attempt;
            } catch (const al::CancelledError&) {
            }
        }
    }
    co_return full;
}

// ---------------------------------------------------------------- connecting

TEST(Tcp, Ipv6LoopbackIsAvailable) { require_ipv6_loopback(); }

TEST(Tcp, ConnectsOverIpv4AndIpv6AndEchoes) {
    require_ipv6_loopback();
    run_bounded([]() -> al::Task<void> {
        for (const char* host : {"127.0.0.1", "::1"}) {
            al::Server server = co_await al::start_server(echo, host, 0);
            std::vector<al::Endpoint> sockets = server.sockets();
            EXPECT_EQ(sockets.size(), 1u);
            if (!sockets.empty()) {
                EXPECT_EQ(sockets[0].host, host);
            }
            co_await expect_echo(host, server.port(), "hello over " + std::string(host));
            server.close();
            co_await server.wait_closed();
        }
    }());
}

TEST(Tcp, ResolvesLocalhostOffTheLoopAndConnects) {
    run_bounded([]() -> al::Task<void> {
        // "localhost" listens on each address it resolves to (127.0.0.1, and
        // ::1 where /etc/hosts lists it), all on one port.
        al::Server server = co_await al::start_server(echo, "localhost", 0);
        std::vector<al::Endpoint> sockets = server.sockets();
        EXPECT_TRUE(std::any_of(sockets.begin(), sockets.end(),
                                [](const al::Endpoint& e) { return e.host == "127.0.0.1" || e.host == "::1"; }));
        for (const al::Endpoint& e : sockets) EXPECT_EQ(e.port, server.port());

        HeldResolver held;  // proves the name goes through the worker
        held.release();
        al::Stream c = co_await al::open_connection("localhost", server.port());
        EXPECT_EQ(held.entered(), 1);
        c.write("by name");
        c.write_eof();
        EXPECT_EQ(co_await read_to_eof(c), "by name");
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(Tcp, ALocalhostNameIsTheLoopbackWhateverTheSystemResolverKnows) {
    // RFC 6761: "localhost", any name under it, any case, with or without the
    // root's dot, is the loopback. The system resolver here knows none of
    // "app.localhost" and "LOCALHOST." (and a minimal root with no /etc/hosts
    // knows not even "localhost"); the library answers them itself.
    require_ipv6_loopback();
    run_bounded([]() -> al::Task<void> {
        al::Server server = co_await al::start_server(echo, "Localhost", 0);
        std::vector<std::string> hosts;
        for (const al::Endpoint& e : server.sockets()) hosts.push_back(e.host);
        std::sort(hosts.begin(), hosts.end());
        EXPECT_EQ(hosts, (std::vector<std::string>{"127.0.0.1", "::1"}));
        for (const char* host : {"app.localhost", "LOCALHOST.", "a.b.localhost."}) {
            co_await expect_echo(host, server.port(), host);
        }
        server.close();
        co_await server.wait_closed();
    }());
    // What counts as one; the rest go to the system resolver.
    for (const char* host : {"localhost", "LocalHost", "localhost.", "app.localhost", "x.y.LOCALHOST."}) {
        EXPECT_TRUE(al::detail::is_localhost_name(host)) << host;
    }
    for (const char* host : {"", ".", "localhos", "notlocalhost", "localhost.example", "localhost..", "127.0.0.1"}) {
        EXPECT_FALSE(al::detail::is_localhost_name(host)) << host;
    }
}

TEST(Tcp, ANameThatDoesNotResolveIsAClearError) {
    // The resolver's answer comes from the test seam: no DNS server is asked.
    struct NoSuchName {
        NoSuchName() {
            al::detail::set_resolve_hook([](const char*) { return EAI_NONAME; });
        }
        ~NoSuchName() { al::detail::set_resolve_hook(nullptr); }
        NoSuchName(const NoSuchName&) = delete;
        NoSuchName& operator=(const NoSuchName&) = delete;
    } no_such_name;
    run_bounded([]() -> al::Task<void> {
        for (const char* host : {"nosuch.invalid", "localhost"}) {
            try {
                co_await al::open_connection(host, 80);
                ADD_FAILURE() << "expected a resolution error for " << host;
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::error_code(EAI_NONAME, al::resolve_category())) << e.what();
                EXPECT_EQ(std::string(e.what()),
                          "asynclink: resolve '" + std::string(host) + "': Name or service not known");
            }
        }
        try {
            co_await al::start_server(echo, "nosuch.invalid", 0);
            ADD_FAILURE() << "expected a resolution error from start_server";
        } catch (const std::system_error& e) {
            EXPECT_TRUE(contains(e.what(), "resolve 'nosuch.invalid'")) << e.what();
        }
    }());
}

TEST(Tcp, ARefusedConnectNamesTheAddress) {
    require_ipv6_loopback();
    run_bounded([]() -> al::Task<void> {
        std::uint16_t port = free_port();
        for (const char* host : {"127.0.0.1", "::1"}) {
            try {
                co_await al::open_connection(host, port);
                ADD_FAILURE() << "expected ECONNREFUSED from " << host;
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code().value(), ECONNREFUSED) << e.what();
                EXPECT_EQ(std::string(e.what()), "asynclink: connect to " + std::string(host) + " port " +
                                                     std::to_string(port) + ": Connection refused");
            }
        }
        try {
            co_await al::open_connection("localhost", port);
            ADD_FAILURE() << "expected ECONNREFUSED from localhost";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code().value(), ECONNREFUSED) << e.what();
            EXPECT_TRUE(contains(e.what(), "open_connection(\"localhost\", " + std::to_string(port) + "): connect to "))
                << e.what();
        }
    }());
}

TEST(Tcp, CancellingAPendingConnectClosesItsSocket) {
    run_bounded([]() -> al::Task<void> {
        FullListener full = co_await full_listener();
        auto connect = al::create_task(al::open_connection("127.0.0.1", full.listener.port()));
        co_await settle(5);
        EXPECT_FALSE(connect.done()) << "the connect to a full listener did not stay pending";
        connect.cancel();
        co_await settle(2);
        EXPECT_TRUE(connect.cancelled());
    }());
}

TEST(Tcp, CancellingAPendingResolutionReturnsAtOnceAndDropsTheLateAnswer) {
    run_bounded([]() -> al::Task<void> {
        HeldResolver held;
        auto connect = al::create_task(al::open_connection("localhost", 9));
        co_await until([&] { return held.entered() == 1; });
        connect.cancel();
        co_await settle(2);
        EXPECT_TRUE(connect.cancelled());  // while the worker still holds the resolution
        held.release();                    // its answer is dropped on the worker (ASan sees any leak)
        // The worker is free again: the next resolution completes.
        al::Server server = co_await al::start_server(echo, "127.0.0.1", 0);
        al::Stream c = co_await al::open_connection("localhost", server.port());
        EXPECT_EQ(held.entered(), 2);
        server.close();
    }());
}

TEST(Tcp, AConnectTimeoutThrowsTimeoutErrorNamingTheCall) {
    run_bounded([]() -> al::Task<void> {
        al::ConnectOptions options;
        options.timeout = 50ms;
        // A connect that stays pending.
        FullListener full = co_await full_listener();
        try {
            co_await al::open_connection("127.0.0.1", full.listener.port(), options);
            ADD_FAILURE() << "expected TimeoutError";
        } catch (const al::TimeoutError& e) {
            EXPECT_TRUE(contains(e.what(), "open_connection(\"127.0.0.1\", " + std::to_string(full.listener.port()) +
                                               "): no connection within 50 ms"))
                << e.what();
        }
        // A resolution that stays pending (held in the hook, or still queued
        // for a worker on a busy machine: pending either way).
        HeldResolver held;
        try {
            co_await al::open_connection("localhost", 9, options);
            ADD_FAILURE() << "expected TimeoutError";
        } catch (const al::TimeoutError& e) {
            EXPECT_TRUE(contains(e.what(), "open_connection(\"localhost\", 9)")) << e.what();
        }
    }());
}

TEST(Tcp, NodelayIsOnByDefaultAndCanBeTurnedOff) {
    run_bounded([]() -> al::Task<void> {
        al::Server server = co_await al::start_server(echo, "127.0.0.1", 0);
        auto nodelay = [](const al::Stream& s) {
            int value = -1;
            socklen_t length = sizeof value;
            ::getsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &value, &length);
            return value != 0;
        };
        al::Stream on = co_await al::open_connection("127.0.0.1", server.port());
        EXPECT_TRUE(nodelay(on));
        al::ConnectOptions options;
        options.nodelay = false;
        al::Stream off = co_await al::open_connection("127.0.0.1", server.port(), options);
        EXPECT_FALSE(nodelay(off));
        server.close();
    }());
}

TEST(Tcp, TheDeprecatedPortOnlyOpenConnectionStillReaches127001) {
    run_bounded([]() -> al::Task<void> {
        al::Server server = co_await al::start_server(echo, "127.0.0.1", 0);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        al::Stream c = co_await al::open_connection(server.port());
#pragma GCC diagnostic pop
        c.write("old");
        c.write_eof();
        EXPECT_EQ(co_await read_to_eof(c), "old");
        server.close();
    }());
}

// ---------------------------------------------------------------- serving

TEST(Tcp, AServerServes200ConcurrentClientsEachItsOwnBytes) {
    run_bounded([]() -> al::Task<void> {
        constexpr int clients = 200;
        constexpr std::size_t size = 6 * 1024;
        int served = 0;
        al::ServerOptions options;
        options.backlog = clients;
        al::Server server = co_await al::start_server(
            [&served](al::Stream s) -> al::Task<void> {
                co_await echo(std::move(s));
                ++served;
            },
            "127.0.0.1", 0, options);
        auto client = [](std::uint16_t port, unsigned seed) -> al::Task<int> {
            al::Stream c = co_await al::open_connection("127.0.0.1", port);
            const std::string sent = pattern(size, seed);
            // In pieces, so the echoes interleave with the other clients'.
            for (std::size_t at = 0; at < sent.size(); at += 1024) {
                c.write(std::string_view(sent).substr(at, 1024));
                co_await c.drain();
            }
            c.write_eof();
            co_return co_await read_to_eof(c) == sent ? 1 : 0;
        };
        std::vector<al::Task<int>> all;
        for (int i = 0; i < clients; ++i) all.push_back(client(server.port(), static_cast<unsigned>(i)));
        std::vector<int> ok = co_await al::gather(std::move(all));
        EXPECT_EQ(std::count(ok.begin(), ok.end(), 1), clients);
        server.close();
        co_await server.wait_closed();
        EXPECT_EQ(served, clients);
    }());
}

TEST(Tcp, AHalfClosedConnectionStillCarriesTheAnswer) {
    run_bounded([]() -> al::Task<void> {
        al::Server server = co_await al::start_server(
            [](al::Stream s) -> al::Task<void> {
                std::string request = co_await read_to_eof(s);  // the client's end of writing
                s.write("got " + std::to_string(request.size()) + " bytes\n");
                s.close();
                co_await s.wait_closed();
            },
            "::1", 0);
        al::Stream c = co_await al::open_connection("::1", server.port());
        c.write(pattern(10000));
        c.write_eof();
        EXPECT_EQ(co_await c.readline(), "got 10000 bytes\n");
        EXPECT_EQ(co_await c.read(100), "");
        EXPECT_TRUE(c.at_eof());
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(Tcp, APeerResetIsAClearReadError) {
    run_bounded([]() -> al::Task<void> {
        al::Server server = co_await al::start_server(
            [](al::Stream s) -> al::Task<void> {
                co_await s.readline();
                linger reset{1, 0};  // close sends RST instead of FIN
                ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
                s.abort();
            },
            "127.0.0.1", 0);
        al::Stream c = co_await al::open_connection("127.0.0.1", server.port());
        c.write("hello\n");
        try {
            std::string got = co_await read_to_eof(c);
            ADD_FAILURE() << "expected ECONNRESET, read " << got.size() << " bytes and the end";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code().value(), ECONNRESET) << e.what();
            EXPECT_EQ(std::string(e.what()), "asynclink: Stream::read: Connection reset by peer");
        }
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(Tcp, CloseStopsListeningAndWaitClosedWaitsForTheHandlers) {
    run_bounded([]() -> al::Task<void> {
        al::Event finish;
        int running = 0;
        al::Server server = co_await al::start_server(
            [&](al::Stream s) -> al::Task<void> {
                ++running;
                co_await finish.wait();
                s.write("bye");
                --running;
            },
            "127.0.0.1", 0);
        const std::uint16_t port = server.port();
        al::Stream c = co_await al::open_connection("127.0.0.1", port);
        co_await until([&] { return running == 1; });
        EXPECT_TRUE(server.is_serving());
        server.close();
        EXPECT_FALSE(server.is_serving());
        EXPECT_TRUE(server.sockets().empty());
        try {
            co_await al::open_connection("127.0.0.1", port);
            ADD_FAILURE() << "a closed server accepted a connection";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code().value(), ECONNREFUSED) << e.what();
        }
        auto closed = al::create_task(server.wait_closed());
        co_await settle(5);
        EXPECT_FALSE(closed.done()) << "wait_closed returned while a handler runs";
        finish.set();
        co_await closed;
        EXPECT_EQ(running, 0);
        EXPECT_EQ(co_await read_to_eof(c), "bye");
    }());
}

TEST(Tcp, CloseClientsCancelsTheHandlers) {
    run_bounded([]() -> al::Task<void> {
        int cancelled = 0;
        al::Server server = co_await al::start_server(
            [&](al::Stream s) -> al::Task<void> {
                try {
                    co_await s.read(1);  // the clients never write
                } catch (const al::CancelledError&) {
                    ++cancelled;
                    throw;
                }
            },
            "127.0.0.1", 0);
        al::Stream a = co_await al::open_connection("127.0.0.1", server.port());
        al::Stream b = co_await al::open_connection("127.0.0.1", server.port());
        co_await settle(10);
        server.close();
        server.close_clients();
        co_await server.wait_closed();
        EXPECT_EQ(cancelled, 2);
        EXPECT_EQ(co_await read_to_eof(a), "");  // the handler's Stream was closed with it
    }());
}

TEST(Tcp, CancellingServeForeverClosesTheServer) {
    run_bounded([]() -> al::Task<void> {
        al::Server server = co_await al::start_server(echo, "127.0.0.1", 0);
        auto serving = al::create_task(server.serve_forever());
        co_await settle(3);
        EXPECT_FALSE(serving.done());
        serving.cancel();
        co_await settle(3);
        EXPECT_TRUE(serving.cancelled());
        EXPECT_FALSE(server.is_serving());
        co_await server.wait_closed();
    }());
}

TEST(Tcp, AnEmptyHostListensOnEveryInterfaceOfBothFamilies) {
    require_ipv6_loopback();
    run_bounded([]() -> al::Task<void> {
        al::Server server = co_await al::start_server(echo, "", 0);
        std::vector<al::Endpoint> sockets = server.sockets();
        auto has = [&](const char* host) {
            return std::any_of(sockets.begin(), sockets.end(), [&](const al::Endpoint& e) { return e.host == host; });
        };
        EXPECT_TRUE(has("0.0.0.0"));
        EXPECT_TRUE(has("::"));
        for (const char* host : {"127.0.0.1", "::1"}) co_await expect_echo(host, server.port(), host);
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(Tcp, AnExceptionInAHandlerEndsOnlyItsConnection) {
    run_bounded([]() -> al::Task<void> {
        std::vector<std::string> reported;
        al::Loop::current().set_exception_handler([&](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                reported.emplace_back(x.what());
            }
        });
        al::Server server = co_await al::start_server(
            [](al::Stream s) -> al::Task<void> {
                std::string line = co_await s.readline();
                if (line == "fail\n") throw std::runtime_error("handler failed");
                s.write(line);
            },
            "127.0.0.1", 0);
        al::Stream bad = co_await al::open_connection("127.0.0.1", server.port());
        bad.write("fail\n");
        EXPECT_EQ(co_await read_to_eof(bad), "");
        al::Stream good = co_await al::open_connection("127.0.0.1", server.port());
        good.write("ok\n");
        EXPECT_EQ(co_await read_to_eof(good), "ok\n");
        server.close();
        co_await server.wait_closed();
        EXPECT_EQ(reported, std::vector<std::string>{"handler failed"});
    }());
}

TEST(Tcp, TcpListenerListensOnANumericHostAndRefusesANameClearly) {
    require_ipv6_loopback();
    run_bounded([]() -> al::Task<void> {
        al::TcpListener listener = al::TcpListener::open("::1", 0);
        EXPECT_EQ(listener.host(), "::1");
        al::Stream c = co_await al::open_connection("::1", listener.port());
        al::Stream s = co_await listener.accept();
        c.write("x");
        EXPECT_EQ(co_await s.read(1), "x");
        try {
            al::TcpListener::open("localhost", 0);
            ADD_FAILURE() << "expected UsageError";
        } catch (const al::UsageError& e) {
            EXPECT_TRUE(contains(e.what(), "start_server")) << e.what();
        }
    }());
}

TEST(Tcp, APortInUseIsAClearErrorNamingTheAddress) {
    run_bounded([]() -> al::Task<void> {
        al::Server first = co_await al::start_server(echo, "127.0.0.1", 0);
        try {
            co_await al::start_server(echo, "127.0.0.1", first.port());
            ADD_FAILURE() << "a second server listened on a port in use";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code().value(), EADDRINUSE) << e.what();
            EXPECT_TRUE(contains(e.what(), "listen on 127.0.0.1 port " + std::to_string(first.port()) + ": bind"))
                << e.what();
        }
        first.close();
    }());
}

TEST(Tcp, MisuseIsAClearUsageError) {
    run_bounded([]() -> al::Task<void> {
        try {
            co_await al::start_server(nullptr, "127.0.0.1", 0);
            ADD_FAILURE() << "expected UsageError";
        } catch (const al::UsageError& e) {
            EXPECT_TRUE(contains(e.what(), "empty handler")) << e.what();
        }
        try {
            co_await al::open_connection("", 80);
            ADD_FAILURE() << "expected UsageError";
        } catch (const al::UsageError& e) {
            EXPECT_TRUE(contains(e.what(), "empty host")) << e.what();
        }
        al::Server empty;
        EXPECT_THROW(empty.close(), al::UsageError);
        al::Server server = co_await al::start_server(echo, "127.0.0.1", 0);
        std::string message;
        std::thread([&] {
            try {
                server.close();
            } catch (const al::UsageError& e) {
                message = e.what();
            }
        }).join();
        EXPECT_TRUE(contains(message, "Server::close called from a thread that is not running the server's loop"))
            << message;
        EXPECT_TRUE(server.is_serving());
        server.close();
    }());
}

}  // namespace
