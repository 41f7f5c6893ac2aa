// SPDX-License-Identifier: BSL-1.0
// A TCP echo round trip on loopback: asynclink (start_server and
// open_connection) against Boost.Asio's C++20 coroutines (acceptor, socket,
// async_write / async_read), in one binary. CPython asyncio's side
// (asyncio.start_server) is in bench/python_peers.py; tools/compare runs all
// three in one run.
//
// Each side runs the server and its one client in the same loop on one
// thread, pinned to CPU 0 (as python_peers.py pins asyncio's loop): the
// client writes a 64-byte message and reads the 64-byte echo back, ping-pong,
// TCP_NODELAY on both ends. One iteration = one round trip, so the time per
// iteration is the round trip: two sends, two receives and two loop wake-ups,
// the kernel's loopback path included.
//
//   build-bench/bench/tcp_bench
#include <benchmark/benchmark.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <asynclink/asynclink.hpp>

#include "bench_common.hpp"

#include <array>
#include <exception>
#include <string>
#include <utility>

#include <sched.h>

namespace al = asynclink;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t message_size = 64;

// ---------------------------------------------------------------- asynclink

al::Task<void> al_echo(al::Stream connection) {
    for (;;) {
        std::string bytes = co_await connection.read(64 * 1024);
        if (bytes.empty()) break;
        connection.write(bytes);
    }
}

al::Task<void> al_round_trips(benchmark::State& state) {
    al::Server server = co_await al::start_server(al_echo, "127.0.0.1", 0);
    al::Stream client = co_await al::open_connection("127.0.0.1", server.port());
    const std::string message(message_size, 'x');
    for (auto _ : state) {
        client.write(message);
        std::string echo = co_await client.readexactly(message_size);
        benchmark::DoNotOptimize(echo.data());
    }
    state.SetItemsProcessed(state.iterations());
    client.close();
    server.close();
    co_await server.wait_closed();
}

void asynclink_round_trip(benchmark::State& state) { al::run(al_round_trips(state)); }

// ---------------------------------------------------------------- Boost.Asio

asio::awaitable<void> asio_echo(tcp::socket connection) {
    std::array<char, 64 * 1024> buffer{};
    for (;;) {
        auto [read_error, n] =
            co_await connection.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
        if (read_error) break;
        auto [write_error, written] =
            co_await asio::async_write(connection, asio::buffer(buffer, n), asio::as_tuple(asio::use_awaitable));
        if (write_error) break;
    }
}

asio::awaitable<void> asio_round_trips(benchmark::State& state) {
    auto executor = co_await asio::this_coro::executor;
    tcp::acceptor acceptor(executor, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client(executor);
    co_await client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    tcp::socket served = co_await acceptor.async_accept(asio::use_awaitable);
    client.set_option(tcp::no_delay(true));
    served.set_option(tcp::no_delay(true));
    asio::co_spawn(executor, asio_echo(std::move(served)), asio::detached);
    const std::string message(message_size, 'x');
    std::array<char, message_size> echo{};
    for (auto _ : state) {
        co_await asio::async_write(client, asio::buffer(message), asio::use_awaitable);
        co_await asio::async_read(client, asio::buffer(echo), asio::use_awaitable);
        benchmark::DoNotOptimize(echo.data());
    }
    state.SetItemsProcessed(state.iterations());
    client.close();
}

void asio_round_trip(benchmark::State& state) {
    asio::io_context context(1);
    std::exception_ptr failure;
    asio::co_spawn(context, asio_round_trips(state), [&failure](std::exception_ptr e) { failure = e; });
    context.run();
    if (failure) std::rethrow_exception(failure);
}

void pin_to_cpu0() {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    sched_setaffinity(0, sizeof cpus, &cpus);
}

}  // namespace

int main(int argc, char** argv) {
    pin_to_cpu0();
    using Side = std::pair<const char*, void (*)(benchmark::State&)>;
    for (const Side& side : {Side{"tcp_echo/round_trip/asynclink", &asynclink_round_trip},
                             Side{"tcp_echo/round_trip/asio", &asio_round_trip}}) {
        const auto& [name, fn] = side;
        // Wall time: the round trip includes the kernel's loopback path.
        asynclink_bench::repeated(benchmark::RegisterBenchmark(name, fn)->UseRealTime(), 0.3);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
