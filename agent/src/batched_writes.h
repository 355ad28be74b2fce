// How the agents' connections put a WriteBatch on their socket: the frames appended during one
// event-loop turn go out in one write, and frames appended while a write is in flight go out in
// the next one, when it completes. Every connection class (agent link, Dubbo client, the
// provider-agent's listener connections) uses these two, with its own notion of "still open"
// and its own way to fail.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>

#include "stream_buffers.h"

namespace meshq::agent {

// Writes what `writes` holds now and then, write after write, whatever is appended meanwhile,
// until nothing waits. `self` is the connection owning `socket` and `writes` (an
// enable_shared_from_this); a reference to it is held only while a write is in flight. Nothing
// is written once `live()` is false; a failed write calls `fail(ec)` (once, and writes nothing
// more).
template <typename Socket, typename Self, typename Live, typename Fail>
void WritePending(Socket& socket, WriteBatch& writes, Self& self, Live live, Fail fail) {
  if (!live()) return;
  const std::string* bytes = writes.Begin();
  if (bytes == nullptr) return;
  boost::asio::async_write(socket, boost::asio::buffer(*bytes),
                           [&socket, &writes, keep = self.shared_from_this(), live, fail](
                               const boost::system::error_code& ec, size_t) {
                             writes.End();
                             if (!live()) return;
                             if (ec) return fail(ec);
                             WritePending(socket, writes, *keep, live, fail);
                           });
}

// WritePending at the end of the current event-loop turn, so that everything appended during
// the turn shares one write. Nothing to do — not even touching `self`'s reference count: this
// runs for every frame appended — while a write is in flight (its completion writes what was
// appended) or one is already scheduled.
template <typename Socket, typename Self, typename Live, typename Fail>
void ScheduleWrite(Socket& socket, WriteBatch& writes, Self& self, Live live, Fail fail) {
  if (writes.scheduled() || writes.writing() || !live()) return;
  writes.set_scheduled(true);
  boost::asio::post(socket.get_executor(),
                    [&socket, &writes, keep = self.shared_from_this(), live, fail] {
                      writes.set_scheduled(false);
                      WritePending(socket, writes, *keep, live, fail);
                    });
}

}  // namespace meshq::agent
