// SPDX-License-Identifier: BSL-1.0
// A TCP echo server and its clients (asyncio's start_server and
// open_connection).
//
//   client 0..N-1 --open_connection("localhost", port)--> server (one task per connection)
//                 <-------------- each line echoed ------------'
//
// The server answers every line with the same line, until the client ends
// its side (write_eof); then it closes its side too. Each client sends its
// lines, ends its side, and checks it got every line back, whole and in
// order, followed by the end of the stream. "localhost" is resolved off the
// loop (getaddrinfo on a worker thread), and the server listens on each of
// its addresses (127.0.0.1, and ::1 where /etc/hosts lists it).
//
// Usage: tcp_echo_server [--short]      run the clients against the server, then shut it down
//        tcp_echo_server --serve PORT   only serve, on every interface, until killed
//                                       (try: printf 'hi\n' | nc -q1 localhost PORT)
#include <asynclink/asynclink.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace al = asynclink;

namespace {

// One connection: echo each line until the client ends its side.
al::Task<void> echo(al::Stream connection) {
    for (;;) {
        std::string line = co_await connection.readline();
        if (line.empty()) break;  // the client's write_eof()
        connection.write(line);
        co_await connection.drain();  // flow control: wait while the client reads slowly
    }
    connection.close();
    co_await connection.wait_closed();
}

// One client: send `lines` lines, then check the echo. Returns the lines wrong.
al::Task<int> client(int id, int lines, std::uint16_t port) {
    al::ConnectOptions options;
    options.timeout = std::chrono::seconds(10);
    al::Stream server = co_await al::open_connection("localhost", port, options);
    for (int i = 0; i < lines; ++i) {
        server.write("client " + std::to_string(id) + " line " + std::to_string(i) + "\n");
        co_await server.drain();
    }
    server.write_eof();
    int wrong = 0;
    for (int i = 0; i < lines; ++i) {
        std::string expected = "client " + std::to_string(id) + " line " + std::to_string(i) + "\n";
        if (co_await server.readline() != expected) ++wrong;
    }
    if (!(co_await server.readline()).empty()) ++wrong;  // then the end of the stream
    co_return wrong;
}

al::Task<int> run_example(int clients, int lines) {
    al::Server server = co_await al::start_server(echo, "localhost", 0);
    for (const al::Endpoint& e : server.sockets()) std::printf("  listening on %s port %u\n", e.host.c_str(), e.port);

    std::vector<al::Task<int>> all;
    for (int id = 0; id < clients; ++id) all.push_back(client(id, lines, server.port()));
    std::vector<int> wrong = co_await al::gather(std::move(all));

    server.close();                 // stop listening
    co_await server.wait_closed();  // every connection's task has ended
    int errors = 0;
    for (int w : wrong) errors += w;
    std::printf("  %d clients, %d lines each: %d wrong\n", clients, lines, errors);
    co_return errors;
}

al::Task<void> serve(std::uint16_t port) {
    al::Server server = co_await al::start_server(echo, "", port);
    for (const al::Endpoint& e : server.sockets()) std::printf("serving on %s port %u\n", e.host.c_str(), e.port);
    std::fflush(stdout);
    co_await server.serve_forever();
}

}  // namespace

int main(int argc, char** argv) {
    bool is_short = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--short") == 0) is_short = true;
        if (std::strcmp(argv[i], "--serve") == 0 && i + 1 < argc) {
            al::run(serve(static_cast<std::uint16_t>(std::atoi(argv[i + 1]))));
            return 0;
        }
    }
    int errors = al::run(run_example(is_short ? 20 : 200, is_short ? 50 : 1000));
    std::printf(errors == 0 ? "tcp_echo_server: all checks passed (every line came back whole and in order)\n"
                            : "tcp_echo_server: FAILED\n");
    return errors == 0 ? 0 : 1;
}
