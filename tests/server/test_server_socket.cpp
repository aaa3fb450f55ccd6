// The server's sockets: a streamed token is written at once, not held back by Nagle's algorithm
// until the client acknowledges the previous write (which a client may delay by 40 ms).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "server/server.h"

namespace tandem::server {
namespace {

int local_port(int fd, bool peer) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return rc == 0 && a.sin_family == AF_INET ? ntohs(a.sin_port) : -1;
}

TEST(ServerSocket, AcceptedConnectionsHaveNagleOff) {
  ServerOptions o;
  o.port = 0;
  o.http_threads = 2;
  Server server(o);
  server.start();

  const int c = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(c, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(server.port()));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(c, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  // One request answered (503: no model yet) shows the server has accepted the connection.
  const std::string req = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(send(c, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  char buf[512];
  const ssize_t got = recv(c, buf, sizeof(buf) - 1, 0);
  ASSERT_GT(got, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(got)).rfind("HTTP/1.1 503", 0), 0u);

  // The server's end of this connection, found among this process's descriptors.
  const int mine = local_port(c, false);
  int accepted = -1;
  for (int fd = 0; fd < 4096 && accepted < 0; ++fd)
    if (fd != c && local_port(fd, false) == server.port() && local_port(fd, true) == mine) accepted = fd;
  ASSERT_GE(accepted, 0) << "no accepted socket for client port " << mine;
  int on = 0;
  socklen_t len = sizeof(on);
  ASSERT_EQ(getsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
  EXPECT_NE(on, 0) << "TCP_NODELAY is off: streamed tokens wait for the client's ACK";

  close(c);
  server.shutdown(std::chrono::milliseconds(0));
  server.wait();
}

}  // namespace
}  // namespace tandem::server
