// How the ranks of a distributed study talk: a Channel sends a Message to a
// rank and hands each received message to the mailbox it is addressed to (its
// sender and slot, or the control mailbox for control messages: wire.h
// IsControl). The transport (MPI: mpi_channel.h; in-process for tests:
// LocalNetwork) only moves bytes and calls Deliver.
//
// Thread-safe: any thread may Send and Receive; one thread per mailbox should
// Receive from it (the worker slot that owns it).
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "distributed/wire.h"

namespace fnas::distributed {

constexpr int kAnyRank = -1;
constexpr int kControl = -1;  // the mailbox of control messages

class Channel {
 public:
  virtual ~Channel() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This rank's host name (as MPI names it).
  virtual std::string host() const = 0;
  // Queues `message` for rank `to` and returns; messages between two ranks
  // arrive in the order they were sent.
  virtual void Send(int to, const Message& message) = 0;

  // Blocks until a message for mailbox `box` (a slot, or kControl) from rank
  // `from` (or kAnyRank) arrives, and returns it (its `from` set). Throws
  // RuntimeError once the channel is closed and nothing matching is left.
  Message Receive(int from, int box);
  // Wakes every Receive: they throw once their mailbox is empty. For a
  // worker's shutdown (its trials stop at their next message).
  void Close();

 protected:
  // Called by the transport for each message received (from any thread).
  void Deliver(Message message);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, std::deque<Message>> boxes_;  // by box; several senders share kControl
  bool closed_ = false;
};

// An in-process network of `size` channels (ranks 0 .. size-1) for tests:
// Send encodes and decodes through the wire format, so a test exercises the
// serializer too.
class LocalNetwork {
 public:
  explicit LocalNetwork(int size);
  ~LocalNetwork();
  Channel& at(int rank);
  int size() const { return static_cast<int>(channels_.size()); }

 private:
  class Endpoint;
  std::vector<std::unique_ptr<Endpoint>> channels_;
};

}  // namespace fnas::distributed
