#include "distributed/mpi_channel.h"

// The C API only (CMake's MPI_CXX_SKIP_MPICXX says the same): no deprecated C++ bindings.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <list>
#include <memory>
#include <vector>

#include "common/error.h"

namespace fnas::distributed {

namespace {
constexpr int kTag = 7;
}  // namespace

MpiChannel::MpiChannel() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    throw RuntimeError(
        "this MPI library offers no thread support (MPI_Init_thread gave level " +
        std::to_string(provided) +
        ", at least MPI_THREAD_SERIALIZED is needed): use an MPI built with threads (Open MPI "
        "and MPICH are by default)");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_Get_processor_name(name, &length);
  host_.assign(name, length);
  thread_ = std::thread([this] { Loop(); });
}

MpiChannel::~MpiChannel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  MPI_Finalize();
}

void MpiChannel::Send(int to, const Message& message) {
  std::string bytes = Encode(message);
  {
    std::lock_guard<std::mutex> lock(mu_);
    outbox_.emplace_back(to, std::move(bytes));
  }
  cv_.notify_all();
}

void MpiChannel::Loop() {
  struct Pending {
    MPI_Request request;
    std::string bytes;
  };
  std::list<Pending> pending;  // stable addresses for MPI_Isend's buffers
  std::vector<char> buffer;
  auto idle = std::chrono::microseconds(50);
  for (;;) {
    bool active = false;
    std::deque<std::pair<int, std::string>> out;
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      out.swap(outbox_);
      stopping = stopping_;
    }
    for (auto& [to, bytes] : out) {
      pending.push_back({MPI_REQUEST_NULL, std::move(bytes)});
      Pending& p = pending.back();
      MPI_Isend(p.bytes.data(), static_cast<int>(p.bytes.size()), MPI_BYTE, to, kTag,
                MPI_COMM_WORLD, &p.request);
      active = true;
    }
    for (auto it = pending.begin(); it != pending.end();) {
      int done = 0;
      MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
      it = done ? pending.erase(it) : std::next(it);
    }
    for (;;) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kTag, MPI_COMM_WORLD, &flag, &status);
      if (!flag) break;
      int count = 0;
      MPI_Get_count(&status, MPI_BYTE, &count);
      buffer.resize(std::max(count, 1));
      MPI_Recv(buffer.data(), count, MPI_BYTE, status.MPI_SOURCE, kTag, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      Message m;
      try {
        m = Decode(std::string(buffer.data(), count));
      } catch (const std::exception& e) {
        std::cerr << "factorize-nas: error: rank " << rank_ << ", from rank " << status.MPI_SOURCE
                  << ": " << e.what() << "\n";
        MPI_Abort(MPI_COMM_WORLD, kExitRuntime);
      }
      m.from = status.MPI_SOURCE;
      Deliver(std::move(m));
      active = true;
    }
    if (stopping && out.empty() && pending.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (outbox_.empty()) return;
    }
    // Poll fast while messages flow or sends are in progress (a large message
    // needs both sides to make progress), back off to 1 ms when idle; a Send
    // wakes it at once.
    idle = active || !pending.empty() ? std::chrono::microseconds(50)
                                      : std::min(idle * 2, decltype(idle)(1000));
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, idle, [&] { return !outbox_.empty() || stopping_ != stopping; });
  }
}

}  // namespace fnas::distributed
