// The MPI transport of a distributed study: one communication thread per
// rank makes every MPI call after MPI_Init_thread (so MPI needs only
// MPI_THREAD_SERIALIZED), sending with MPI_Isend and receiving whatever
// arrives (MPI_Iprobe + MPI_Recv) into the mailboxes of Channel. Built only
// when CMake finds MPI (FNAS_HAVE_MPI). mpi.h stays out of this header.
//
// MPI_COMM_WORLD keeps MPI's default error handler: a rank that dies ends the
// job (docs/distributed.md, failures).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "distributed/channel.h"

namespace fnas::distributed {

// One per process, on the main thread. Not copyable.
class MpiChannel : public Channel {
 public:
  // MPI_Init_thread; throws RuntimeError when MPI offers less than
  // MPI_THREAD_SERIALIZED.
  MpiChannel();
  // Sends what is queued, stops the thread, MPI_Finalize.
  ~MpiChannel() override;
  MpiChannel(const MpiChannel&) = delete;
  MpiChannel& operator=(const MpiChannel&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string host() const override { return host_; }
  int local_rank() const { return local_rank_; }  // among the ranks of this host
  int local_size() const { return local_size_; }
  void Send(int to, const Message& message) override;

 private:
  void Loop();

  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::string host_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int, std::string>> outbox_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace fnas::distributed
